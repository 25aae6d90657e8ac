"""``POST /api/risk/check`` in process: the risk model fitted on the shared BTC and ETH hours
in a scratch embedded database, then 300 checks of varied ideas through ``risk_check.check``
(the function) and through the API view (routing, validation, envelope), p50 and p99 of each.

    .venv/bin/python benchmarks/risk_check.py [--checks 300]

Target: the API's p99 <= 20 ms in process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TRADINGAI_DATA_DIR", ROOT.parent / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=300)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="risk-check-")
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)  # the embedded mode: SQLite under the scratch directory
    os.environ.update(TRADINGAI_VAR_DIR=scratch, TRADINGAI_EMBEDDED_SCHEDULER="0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingai.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import override_settings

    from analysis.ingest import import_file
    from benchmarks.targets import Targets
    from mlcore import risk_check
    from mlcore.training.risk import train_risk

    call_command("migrate", verbosity=0)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        import_file(SHARED / f"binance_futures_{symbol}_1h.csv.gz")
    train_risk("1h", ["BTCUSDT", "ETHUSDT"])
    close = 61_500.0
    ideas = [
        (
            "long",
            close * (1 - 0.002 * (1 + i % 10)),  # stops 0.2-2 % below
            close * (1 + 0.003 * (1 + i % 7)),  # targets 0.3-2.1 % above
            (4, 24, 72)[i % 3],
        )
        for i in range(args.checks)
    ]
    risk_check.check("BTCUSDT", "1h", "long", close * 0.99, close * 1.01, 24)  # warm (numba)

    def timed(call) -> list[float]:
        out = []
        for idea in ideas:
            started = time.perf_counter()
            call(idea)
            out.append((time.perf_counter() - started) * 1000)
        return out

    direct = timed(lambda i: risk_check.check("BTCUSDT", "1h", i[0], i[1], i[2], i[3], close))
    client = Client()
    with override_settings(API_AUTH="open", API_RATE_LIMIT=0, ALLOWED_HOSTS=["testserver"]):

        def post(i):
            body = {"ticker": "BTCUSDT", "side": i[0], "stop": i[1], "target": i[2],
                    "entry": close, "horizon_hours": i[3]}  # fmt: skip
            response = client.post(
                "/api/risk/check", json.dumps(body), content_type="application/json"
            )
            assert response.status_code == 200, response.content

        post(ideas[0])
        api = timed(post)

    def p(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1]

    targets = Targets()
    print(f"risk_check.check: p50 {p(direct, 50):.1f} ms, p99 {p(direct, 99):.1f} ms")
    met = p(api, 99) <= 20
    print(f"POST /api/risk/check in process: p50 {p(api, 50):.1f} ms, p99 {p(api, 99):.1f} ms "
          f"(target p99 <= 20 ms: {targets.check('risk check p99 <= 20 ms', met)})")  # fmt: skip
    targets.finish()


if __name__ == "__main__":
    main()
