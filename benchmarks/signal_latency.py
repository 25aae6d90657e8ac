"""Signal latency in the production mode: candle committed -> signal stored -> WebSocket message.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python benchmarks/signal_latency.py

1. A database of its own (``<name>_latency``): BTC, ETH and 1000PEPE 1h with funding, plus a
   fourth series (``SYNTHUSDT``: the BTC history at half the price), each with a quick forced
   champion trained on data before the measured bars.
2. daphne and a Celery worker (2 processes, the cores of this machine) started as the
   production runs them; a WebSocket client on ``/api/realtime/signals``.
3. 200 bars of each of the 4 series, one bar at a time: the candle is committed with the event
   a fetch sends, and the clock stops when its message arrives on the socket.
4. p50/p99 per symbol, and each stage's share from the timings the worker records on the signal:
   queue (commit to task start), inputs (reading candles and funding), features, models, SHAP,
   database (storing it), push (stored to received, through Redis and daphne).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.targets import Targets  # noqa: E402
from tests.servers import (  # noqa: E402
    fresh_database,
    production_env,
    shell_key,
    start_daphne,
    start_worker,
    stop,
)

BARS = 200
SYMBOLS = ["BTCUSDT", "ETHUSDT", "1000PEPEUSDT", "SYNTHUSDT"]


def prepare(env: dict[str, str]) -> str:
    """Fresh database, data, champions (in a subprocess: the settings read env at import);
    returns a read key for the stream (reads need one in production)."""
    fresh_database(env)
    synthetic = Path(env["TRADINGAI_VAR_DIR"]) / "synthetic"
    synthetic.mkdir(parents=True, exist_ok=True)
    shared = ROOT.parent / "shared" / "data"
    candles = pd.read_csv(shared / "binance_futures_BTCUSDT_1h.csv.gz")
    candles[["open", "high", "low", "close"]] /= 2
    candles.to_csv(synthetic / "binance_futures_SYNTHUSDT_1h.csv.gz", index=False)
    funding = pd.read_csv(shared / "binance_futures_BTCUSDT_funding.csv.gz")
    funding["mark_price"] /= 2
    funding["symbol"] = "SYNTHUSDT"
    funding.to_csv(synthetic / "binance_futures_SYNTHUSDT_funding.csv.gz", index=False)
    files = [
        str(shared / f"binance_futures_{s}_{kind}.csv.gz")
        for s in SYMBOLS[:3]
        for kind in ("1h", "funding")
    ]
    files += [str(p) for p in sorted(synthetic.iterdir())]
    script = (
        "from datetime import UTC, datetime\n"
        "from mlcore.config import TrainRequest\n"
        "from mlcore.training import train\n"
        f"for symbol in {SYMBOLS!r}:\n"
        "    train(TrainRequest(symbol, '1h', until=datetime(2024, 4, 1, tzinfo=UTC),"
        " quick=True, force=True))\n"
        "from tradingai.models import ApiKey\n"
        "print('KEY', ApiKey.issue('latency-benchmark')[1])\n"
    )
    subprocess.run(
        [sys.executable, "manage.py", "import_klines", *files],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return shell_key(env, script)


MEASURE = """  # run by manage.py shell: commits the bars, one at a time when told
import json, sys, time
from datetime import timedelta
from django.db import transaction
from analysis.events import candles_stored
from analysis.models import Candle
from analysis.store import delete_candles, upsert_candles
from analysis.market import candles_frame
symbols, bars = %r, %d
held = {}
for symbol in symbols:
    last = Candle.objects.last_open_time(symbol, "1h")
    # The last bars with fresh funding (the shared funding ends 2024-05-14 00:00).
    end = min(last, last.replace(hour=0) )
    start = end - timedelta(hours=bars - 1)
    frame = candles_frame(symbol, "1h", since=start, until=end + timedelta(hours=1))
    frame["close_time"] = frame["open_time"] + 3_600_000 - 1
    for column in ("quote_volume", "trades", "taker_buy_base", "taker_buy_quote"):
        frame[column] = float("nan")
    # One frame per bar, as a fetch hands them over, made before the clock runs.
    held[symbol] = [frame.iloc[i : i + 1] for i in range(bars)]
    delete_candles(symbol, "1h", open_time__gte=start)
print("READY", flush=True)
sys.stdin.readline()
commits = []
for i in range(bars):
    for symbol in symbols:
        with transaction.atomic():
            upsert_candles(symbol, "1h", held[symbol][i])
            when = Candle.objects.last_open_time(symbol, "1h")
            candles_stored.send(sender="benchmark", symbol=symbol, interval="1h", open_time=when)
            started = time.time()
        commits.append([symbol, when.isoformat(), started])
    print("BAR", i, flush=True)
    sys.stdin.readline()  # the next bar once this one's messages arrived
print("COMMITS " + json.dumps(commits), flush=True)
"""


ROLES = {"celery": "worker", "daphne": "daphne", "manage.py": "committer", "postgres": "postgres"}


def cpu_seconds() -> dict[str, float]:
    """CPU time (user + system) used so far by each role's processes, from /proc: the machine's
    two cores are shared by all of them, so this is what one bar costs the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        if int(stat.parent.name) == os.getpid():
            role = "benchmark client"
        else:
            role = next((r for word, r in ROLES.items() if word in command), None)
            if role == "worker":  # the main process takes tasks off Redis for its pool
                role = "worker: main" if int(fields[1]) == os.getpid() else "worker: pool"
            if role is None and "redis-server" in command:
                role = "redis"
        if role:
            used[role] = used.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return used


class Listener(threading.Thread):
    """Records when each signal's message arrives on the API socket."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.arrivals, self.ready = url, {}, threading.Event()

    def run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        origin = self.url.replace("ws://", "http://").split("/api/")[0]
        with connect(self.url, open_timeout=30, origin=origin) as ws:
            self.ready.set()
            while True:
                try:
                    message = json.loads(ws.recv())
                except ConnectionClosed:  # the server stops at the end of the run
                    return
                self.arrivals[(message["symbol"], message["open_time"])] = (
                    time.time(),
                    message["id"],
                )


def main() -> None:
    env = production_env("latency", TRADINGAI_RANDOM_RUNS="20")
    print("preparing: database, 4 series, quick champions ...", flush=True)
    key = prepare(env)
    daphne, url = start_daphne(env, quiet=True)
    procs = [
        daphne,
        start_worker(env, "--concurrency", "2", "--loglevel", "WARNING", quiet=True),
    ]
    measure = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-v0", "-c", MEASURE % (SYMBOLS, BARS)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert measure.stdout.readline().startswith("READY")
        stream = url.replace("http://", "ws://") + f"/api/realtime/signals?key={key}"
        listener = Listener(stream)
        listener.start()
        if not listener.ready.wait(60):
            sys.exit("could not subscribe to /api/realtime/signals")
        time.sleep(20)  # let the worker load its models before the clock runs
        cpu_before = cpu_seconds()
        for i in range(BARS):
            measure.stdin.write("\n")
            measure.stdin.flush()
            line = measure.stdout.readline()
            assert line.startswith("BAR"), line
            deadline = time.time() + 10
            while len(listener.arrivals) < (i + 1) * len(SYMBOLS) and time.time() < deadline:
                time.sleep(0.002)
            if i % 50 == 49:
                print(f"  {i + 1} bars", flush=True)
        cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_seconds().items()}
        measure.stdin.write("\n")
        measure.stdin.flush()
        commits = json.loads(measure.stdout.readline().removeprefix("COMMITS "))
    finally:
        stop(*procs, measure)
    targets = report(env, commits, listener.arrivals)
    print("CPU per bar, by process (all on the same 2 cores):")
    for role, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"  {role:<17} {seconds / (BARS * len(SYMBOLS)) * 1000:6.2f} ms")
    targets.finish()


def report(env: dict[str, str], commits: list, arrivals: dict) -> Targets:
    import django

    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tradingai.settings"
    django.setup()
    from signals.models import Signal

    stages = {k: [] for k in ("queue", "inputs", "features", "models", "shap", "database", "push")}
    latency: dict[str, list[float]] = {s: [] for s in SYMBOLS}
    missing, raw = 0, []
    for symbol, open_time, committed in commits:
        arrival = arrivals.get((symbol, open_time))
        if arrival is None:
            missing += 1
            continue
        received, signal_id = arrival
        latency[symbol].append(received - committed)
        s = Signal.objects.get(pk=signal_id)
        t = s.timings
        computed = t["inputs"] + t["features"] + t["models"] + t["shap"]
        stored = s.created_at.timestamp()
        stages["queue"].append(t["started_at"] - committed)
        for key in ("inputs", "features", "models", "shap"):
            stages[key].append(t[key])
        stages["database"].append(max(stored - t["started_at"] - computed, 0.0))
        stages["push"].append(received - stored)
        raw.append(
            {
                "symbol": symbol,
                "open_time": open_time,
                "committed": committed,
                "received": received,
                "stored": stored,
                **t,
            }
        )
    print(
        f"\n{BARS} bars x {len(SYMBOLS)} series, production mode (PostgreSQL, Redis, "
        f"Celery worker x2, daphne); {missing} messages missing"
    )
    targets = Targets()
    targets.check(f"every signal pushed ({missing} missing)", missing == 0)
    for symbol, values in latency.items():
        ms = np.asarray(values) * 1000
        p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
        word = targets.check(f"{symbol} p99 < 25 ms", p99 < 25)
        print(
            f"{symbol:<13} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   ({len(ms)} signals; "
            f"target p99 < 25 ms: {word})"
        )
    saved = Path(env["TRADINGAI_VAR_DIR"]) / "signal_latency.json"
    saved.write_text(json.dumps(raw))
    print(f"(every bar's times: {saved.relative_to(ROOT)})")
    total = sum(np.mean(v) for v in stages.values())
    print("share of the mean latency per stage:")
    for name, values in stages.items():
        mean = np.mean(values) * 1000
        print(f"  {name:<9} {mean:6.2f} ms  {np.mean(values) / total:6.1%}")
    return targets


if __name__ == "__main__":
    main()
