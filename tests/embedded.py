"""The embedded mode as a newcomer's machine has it: no DATABASE_URL, no REDIS_URL; SQLite, the
in-memory channel layer, tasks in process; the ``manage.py`` commands run as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
BTC_CANDLES = SHARED / "binance_futures_BTCUSDT_1h.csv.gz"
BTC_FUNDING = SHARED / "binance_futures_BTCUSDT_funding.csv.gz"


def embedded_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(TRADINGAI_VAR_DIR=str(var_dir), TRADINGAI_EMBEDDED_SCHEDULER="0")
    env.update(TRADINGAI_SYMBOLS="BTCUSDT", TRADINGAI_INTERVALS="1h")
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@dataclass(frozen=True)
class EmbeddedSite:
    """A migrated embedded site with BTCUSDT's candles and funding imported (once per session:
    the smoke test and the browser test both start from it)."""

    var_dir: Path
    env: dict[str, str]
    first_import: str  # what the first ``import_klines`` printed


def build_site(var_dir: Path) -> EmbeddedSite:
    env = embedded_env(var_dir) | {"MLFLOW_TRACKING_URI": "", "TRADINGAI_RANDOM_RUNS": "20"}
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    printed = manage(env, "import_klines", str(BTC_CANDLES), str(BTC_FUNDING))
    return EmbeddedSite(var_dir, env, printed)
