"""Soak with faults: a simulated stretch of the research universe (a year of 13 symbols by
default) through the live path in production mode, with the faults a deployment meets injected
while it runs.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python benchmarks/soak.py \
        [--days 365] [--symbols BTCUSDT,ETHUSDT,...] [--faults worker,exchange,...]

1. A database of its own (``<name>_soak``) and a ``redis-server`` of its own on a free port (so
   restarting it touches nothing else). Each symbol's history before the start is imported from
   ``../shared/data/universe/``; a quick universe champion is trained on it.
2. The exchange fake (``analysis/tests/binance_replay.py``) serves the rest of the files with a
   clock the soak moves on one hour per tick. granian (HTTP), daphne (WebSockets) and a Celery
   worker (2 processes) run as production runs them; a WebSocket client on
   ``/api/realtime/signals`` reconnects when it is dropped, as the dashboard's htmx does.
3. Each tick: the clock moves on an hour, ``fetch_latest`` is sent as beat sends it, and the tick
   ends once every symbol's new bar has an outcome (a signal, or a refusal with its reason) or
   a fault is under way. One timed API read per tick.
4. Faults, each once, spread over the run: a worker process SIGKILLed mid-task; the exchange
   answering 429 storms, 418 bans and timeouts; a Redis restart; a PostgreSQL restart; an import
   killed mid-file; a training killed before promotion. Health is read from the web process
   during and after each.
5. Checked at the end: no candle lost; no bar with two signals; every stored signal pushed to
   the client exactly once, or its absence inside a recorded outage; every bar without a signal
   explained (a refusal, or fetched late by a catch-up after an outage); health flagged each
   fault and was healthy after it from the same web process; the champion untouched by the
   killed training; resident memory per process (slope); p99 latencies before and after.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.tests.binance_replay import ReplayServer, Scripted  # noqa: E402
from benchmarks.targets import Targets  # noqa: E402
from tests.servers import (  # noqa: E402
    free_port,
    fresh_database,
    production_env,
    shell_key,
    start_daphne,
    start_granian,
    start_redis,
    start_worker,
    stop,
)

UNIVERSE = ROOT.parent / "shared" / "data" / "universe"
HOUR_MS = 3_600_000
START = datetime(2024, 1, 1, tzinfo=UTC)  # the files' last year; older history is imported
FAULTS = ("worker", "exchange", "redis", "postgres", "import", "training")
MB = 1024 * 1024


# --- the world the soak runs in ---------------------------------------------------------------
def universe_files(symbols: list[str]) -> tuple[dict, dict]:
    klines, funding = {}, {}
    for symbol in symbols:
        klines[(symbol, "1h")] = pd.read_csv(UNIVERSE / f"binance_futures_{symbol}_1h.csv.gz")
        funding[symbol] = pd.read_csv(UNIVERSE / f"binance_futures_{symbol}_funding.csv.gz")
    return klines, funding


def import_history(env: dict[str, str], klines: dict, funding: dict, start_ms: int) -> None:
    """Everything before the start, through the dump-file import a deployment starts with."""
    folder = Path(env["TRADINGAI_VAR_DIR"]) / "history"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for (symbol, _), frame in klines.items():
        before = frame[frame.open_time < start_ms]
        if before.empty:  # listed at the start: the fetch brings its first candles
            continue
        paths.append(_write(folder / f"binance_futures_{symbol}_1h.csv.gz", before))
        rates = funding[symbol][funding[symbol].funding_time < start_ms]
        paths.append(_write(folder / f"binance_futures_{symbol}_funding.csv.gz", rates))
    subprocess.run([sys.executable, "manage.py", "import_klines", *map(str, paths)],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip


def _write(path: Path, frame: pd.DataFrame) -> Path:
    with gzip.open(path, "wt") as out:
        frame.to_csv(out, index=False)
    return path


def postgres(action: str) -> None:
    """Stop or start the machine's PostgreSQL cluster (the soak's database lives there)."""
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action,
                    *(["-m", "fast"] if action == "stop" else [])], check=True)  # fmt: skip
    if action == "start":
        for _ in range(100):
            if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not come back")


# --- the client ---------------------------------------------------------------------------------
class Listener(threading.Thread):
    """The API stream's client: every message's arrival by signal id, and the windows in which
    it was not connected. It reconnects after a drop, as a browser's htmx socket does."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.ready, self.stopping = url, threading.Event(), False
        self.arrivals: dict[int, list[float]] = defaultdict(list)
        self.disconnected: list[list[float]] = []  # [since, until]

    def run(self) -> None:
        from websockets.sync.client import connect

        while not self.stopping:
            try:
                with connect(self.url, open_timeout=10) as ws:
                    if self.disconnected and len(self.disconnected[-1]) == 1:
                        self.disconnected[-1].append(time.time())
                    self.ready.set()
                    while not self.stopping:
                        try:
                            message = json.loads(ws.recv(timeout=0.5))
                        except TimeoutError:
                            continue
                        self.arrivals[message["id"]].append(time.time())
            except Exception:  # dropped, or refused while a fault lasts: reconnect
                if not self.disconnected or len(self.disconnected[-1]) == 2:
                    self.disconnected.append([time.time()])
                time.sleep(0.5)


def get_json(url: str, key: str = "", timeout: float = 10) -> tuple[int, dict | None, float]:
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, body = answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
        try:
            body = json.loads(raw)
        except ValueError:  # not the envelope: kept as text, so the report shows it
            body = {"data": None, "text": raw[:200].decode(errors="replace")}
    except OSError:
        status, body = 0, None
    return status, body, time.perf_counter() - started


# --- the run --------------------------------------------------------------------------------------
@dataclass
class Soak:
    env: dict[str, str]
    symbols: list[str]
    klines: dict
    replay: ReplayServer
    web: str
    key: str
    processes: dict[str, subprocess.Popen]
    redis_port: int
    outages: list[tuple[str, float, float]] = field(default_factory=list)  # what, since, until
    health: list[dict] = field(default_factory=list)
    ticks: list[dict] = field(default_factory=list)
    refusals: dict[tuple[str, int], str] = field(default_factory=dict)
    rss: dict[tuple[str, int], list[tuple[int, float]]] = field(default_factory=dict)
    api_seconds: list[tuple[int, float]] = field(default_factory=list)
    api_statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    listener: Listener | None = None
    fault_ticks: dict[str, int] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    web_same: bool = False  # granian and daphne were the same processes from start to end

    def check(self, what: str, ok: bool, detail: str = "") -> None:
        self.checks.append((what, ok, detail))
        print(f"  {'ok ' if ok else 'BAD'} {what}{': ' + detail if detail else ''}", flush=True)

    def read_health(self) -> dict:
        status, body, _ = get_json(f"{self.web}/api/system/health", self.key)
        body = body or {}
        # An unhealthy report comes as a 503 whose error details are the report.
        report = body.get("data") or (body.get("error") or {}).get("details")
        return report or {"status": f"no answer (HTTP {status})"}


def tick(soak: Soak, index: int, bar_ms: int, quiet_wait: float, fault: bool = False) -> dict:
    """Move the clock past ``bar_ms``'s close, send the fetch as beat would, and wait for each
    symbol's outcome of that bar (at most ``quiet_wait`` seconds). ``fault``: the tick runs
    while the exchange, Redis or PostgreSQL is out, which may excuse a bar without signal."""
    from django.db import connections

    from analysis.tasks import fetch_latest

    soak.replay.now_ms = bar_ms + HOUR_MS + 1_000
    soak.replay.requests.clear()
    sent = time.time()
    record = {
        "index": index,
        "bar": bar_ms,
        "sent": sent,
        "sent_ok": True,
        "done": None,
        "fault": fault,
        "stored": [],
    }
    try:
        fetch_latest.apply_async(retry=True, retry_policy={"max_retries": 1, "interval_start": 0.2})
    except Exception:  # the broker is down: beat could not send either
        record["sent_ok"] = False
        return record
    expected = {s for s in soak.symbols if bar_ms >= int(soak.klines[(s, "1h")].open_time.iloc[0])}
    deadline = sent + quiet_wait
    while time.time() < deadline:
        try:
            outcome = outcomes(expected, bar_ms)
        except Exception:  # PostgreSQL is down: the worker cannot store anything either
            connections.close_all()
            time.sleep(0.2)
            continue
        soak.refusals.update(outcome["refused"])
        if outcome["pending"] == 0:
            record["done"] = time.time()
            break
        time.sleep(0.02)
    try:  # which symbols had the bar's candle stored by the end of its tick
        record["stored"] = stored_symbols(expected, bar_ms)
    except Exception:
        connections.close_all()
    return record


def stored_symbols(symbols: set[str], bar_ms: int) -> list[str]:
    from analysis.models import Candle
    from analysis.quality import ms_to_datetime

    return list(
        Candle.objects.filter(
            symbol__in=symbols, interval="1h", open_time=ms_to_datetime(bar_ms)
        ).values_list("symbol", flat=True)
    )


def outcomes(expected: set[str], bar_ms: int) -> dict:
    from analysis.quality import ms_to_datetime
    from signals.models import NoSignal, Signal

    when = ms_to_datetime(bar_ms)
    signalled = set(
        Signal.objects.filter(symbol__in=expected, interval="1h", open_time=when).values_list(
            "symbol", flat=True
        )
    )
    refused = {
        (s, bar_ms): reason
        for s, reason in NoSignal.objects.filter(
            symbol__in=expected, interval="1h", open_time=when
        ).values_list("symbol", "reason")
    }
    return {"pending": len(expected - signalled - {s for s, _ in refused}), "refused": refused}


# --- faults -------------------------------------------------------------------------------------
def worker_children(soak: Soak) -> list[int]:
    main = soak.processes["worker"].pid
    return [pid for pid, parent in _parents().items() if parent == main]


def _parents() -> dict[int, int]:
    """Live processes and their parents. A killed child stays in /proc as a zombie (state Z,
    no memory lines) until its parent reaps it: it is left out, it is no longer running."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if state not in ("Z", "X"):
            parents[int(stat.parent.name)] = int(parent)
    return parents


def _cpu(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return 0


def fault_worker(soak: Soak, index: int, bar_ms: int) -> None:
    """SIGKILL the pool process that is busiest while the tick's tasks run: acks_late with
    reject_on_worker_lost puts its task back, and the main process forks a new child."""
    from analysis.tasks import fetch_latest

    soak.replay.now_ms = bar_ms + HOUR_MS + 1_000
    children = worker_children(soak)
    before = {pid: _cpu(pid) for pid in children}
    started = time.time()
    fetch_latest.delay()
    time.sleep(0.15)
    busiest = max(children, key=lambda pid: _cpu(pid) - before[pid])
    os.kill(busiest, signal.SIGKILL)
    soak.outages.append(("worker killed", started, time.time()))
    print(f"  SIGKILL worker process {busiest} mid-tick", flush=True)
    deadline = time.time() + 60
    now = worker_children(soak)
    while time.time() < deadline and (busiest in now or len(now) < len(children)):
        time.sleep(0.1)
        now = worker_children(soak)
    health = soak.read_health()
    soak.check("worker: a new pool process replaced the killed one",
               len(now) == len(children) and busiest not in now)  # fmt: skip
    soak.check("worker: health sees the workers after the kill",
               bool((health.get("workers") or {}).get("ok")), health.get("status", ""))  # fmt: skip


def fault_exchange(soak: Soak, index: int, bar_ms: int, run_tick) -> int:
    """Three storms, two ticks each: 429 with Retry-After, 418 (an IP ban), then timeouts.
    Returns how many ticks it used."""
    storms = [
        ("429 storm", lambda: setattr(soak.replay, "fail_always", Scripted(
            429, {"code": -1003, "msg": "Too many requests"}, {"Retry-After": "1"}))),
        ("418 ban", lambda: setattr(soak.replay, "fail_always", Scripted(
            418, {"code": -1003, "msg": "Way too many requests; IP banned"},
            {"Retry-After": "1"}))),
        ("timeouts", lambda: setattr(soak.replay, "delay", 2.0)),
    ]  # fmt: skip
    used = 0
    for name, begin in storms:
        begin()
        started = time.time()
        for _ in range(2):
            soak.ticks.append(run_tick(index + used, bar_ms + used * HOUR_MS, 8.0, True))
            used += 1
        lag = _lag_hours(soak, bar_ms + (used - 1) * HOUR_MS)
        soak.replay.fail_always, soak.replay.delay = None, 0.0
        soak.outages.append((f"exchange {name}", started, time.time()))
        soak.check(f"exchange {name}: health shows the data falling behind",
                   lag >= 1, f"{lag:.0f} h behind the exchange's clock")  # fmt: skip
    # The first tick after: the fetch catches up every hour the storms cost.
    soak.ticks.append(run_tick(index + used, bar_ms + used * HOUR_MS, 60.0, True))
    lag = _lag_hours(soak, bar_ms + used * HOUR_MS)
    soak.check("exchange: caught up after the storms", lag == 0, f"{lag:.0f} h behind")
    return used + 1


def _lag_hours(soak: Soak, bar_ms: int) -> float:
    """How far health's newest candle per series is behind the simulated clock's newest bar
    (health judges freshness by the wall clock, and this replay runs in 2024)."""
    series = soak.read_health().get("data") or []
    newest = [
        datetime.fromisoformat(s["last_open_time"]).timestamp() * 1000
        for s in series
        if s["symbol"] in soak.symbols and s["last_open_time"]
    ]
    return max((bar_ms - t) / HOUR_MS for t in newest) if newest else float("inf")


def fault_redis(soak: Soak, index: int, bar_ms: int, run_tick) -> int:
    redis = soak.processes["redis"]
    started = time.time()
    redis.terminate()
    redis.wait(10)
    during = soak.read_health()
    soak.ticks.append(run_tick(index, bar_ms, 2.0, True))  # beat cannot send: broker down
    soak.processes["redis"] = start_redis(soak.redis_port)  # empty, as after a restart
    back = time.time()
    after = _wait_healthy(soak)
    print(f"  healthy {time.time() - back:.1f} s after Redis came back", flush=True)
    soak.outages.append(("redis restart", started, time.time()))
    soak.check("redis: health degraded while it was down",
               during.get("status") == "degraded" and not (during.get("redis") or {}).get("ok"),
               during.get("status", ""))  # fmt: skip
    soak.check("redis: healthy after, same web process", after.get("status") == "healthy",
               after.get("status", ""))  # fmt: skip
    return 1


def fault_postgres(soak: Soak, index: int, bar_ms: int, run_tick) -> int:
    from django.db import connections

    started = time.time()
    postgres("stop")
    during = soak.read_health()
    soak.ticks.append(run_tick(index, bar_ms, 2.0, True))
    postgres("start")
    connections.close_all()
    back = time.time()
    after = _wait_healthy(soak)
    print(f"  healthy {time.time() - back:.1f} s after PostgreSQL came back", flush=True)
    soak.outages.append(("postgres restart", started, time.time()))
    soak.check("postgres: health unhealthy while it was down",
               during.get("status") == "unhealthy", during.get("status", ""))  # fmt: skip
    soak.check("postgres: healthy after, same web process", after.get("status") == "healthy",
               after.get("status", ""))  # fmt: skip
    return 1


def _wait_healthy(soak: Soak, seconds: float = 60) -> dict:
    deadline = time.time() + seconds
    health = soak.read_health()
    while time.time() < deadline and health.get("status") != "healthy":
        time.sleep(0.5)
        health = soak.read_health()
    return health


def fault_import(soak: Soak, index: int, bar_ms: int) -> None:
    """A long dump file's import SIGKILLed mid-file stores none of it; the re-run stores it
    once, and a third run changes nothing."""
    from analysis.models import Candle

    dump = _big_dump(Path(soak.env["TRADINGAI_VAR_DIR"]), 200_000)
    command = [sys.executable, "manage.py", "import_klines", str(dump)]
    started = subprocess.Popen(command, cwd=ROOT, env=soak.env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(4.0)
    alive = started.poll() is None
    started.send_signal(signal.SIGKILL)
    started.wait(10)
    after_kill = Candle.objects.filter(symbol="SOAKUSDT").count()
    runs = [subprocess.run(command, cwd=ROOT, env=soak.env, capture_output=True).returncode
            for _ in range(2)]  # fmt: skip
    stored = Candle.objects.filter(symbol="SOAKUSDT").count()
    soak.check("import: killed mid-file, nothing stored", alive and after_kill == 0,
               f"{after_kill} rows after the kill")  # fmt: skip
    soak.check("import: re-run stores the file once", runs == [0, 0] and stored == 200_000,
               f"{stored} rows after two re-runs")  # fmt: skip


def _big_dump(folder: Path, bars: int) -> Path:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, bars)))
    times = 1_262_304_000_000 + np.arange(bars) * HOUR_MS
    frame = pd.DataFrame({"open_time": times, "open": np.r_[100.0, close[:-1]],
                          "close": close, "volume": 1.0})  # fmt: skip
    frame["high"] = frame[["open", "close"]].max(axis=1) * 1.001
    frame["low"] = frame[["open", "close"]].min(axis=1) * 0.999
    path = folder / "binance_futures_SOAKUSDT_1h.csv"
    frame[["open_time", "open", "high", "low", "close", "volume"]].to_csv(path, index=False)
    return path


def fault_training(soak: Soak, index: int, bar_ms: int) -> None:
    """A universe training SIGKILLed once it is training: the champion serves on, no
    half-made version is recorded."""
    from mlcore.models import ModelVersion, TrainingRun

    champions = set(ModelVersion.objects.filter(status="champion").values_list("pk", flat=True))
    versions = ModelVersion.everything.count()
    runs = set(TrainingRun.objects.values_list("pk", flat=True))
    training = subprocess.Popen(
        [sys.executable, "manage.py", "train_all", "--pooled", "--quick",
         "--symbols", ",".join(soak.symbols)],
        cwd=ROOT, env=soak.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline, killed_at = time.time() + 300, ""
    while time.time() < deadline and training.poll() is None:
        run = TrainingRun.objects.exclude(pk__in=runs).first()
        if run and run.status == "running" and run.stage not in ("", "data"):
            killed_at = run.stage
            break
        time.sleep(0.1)
    training.send_signal(signal.SIGKILL)
    training.wait(10)
    now = set(ModelVersion.objects.filter(status="champion").values_list("pk", flat=True))
    soak.check("training: killed while training", bool(killed_at), f"at stage {killed_at!r}")
    soak.check("training: champion untouched, no version recorded",
               now == champions and ModelVersion.everything.count() == versions)  # fmt: skip


# --- memory -------------------------------------------------------------------------------------
def sample_rss(soak: Soak, index: int) -> None:
    parents = _parents()
    roles = {proc.pid: name for name, proc in soak.processes.items()}
    roles[os.getpid()] = "soak driver"
    for pid, parent in parents.items():
        if parent in roles and pid not in roles and roles[parent] in ("worker", "granian"):
            roles[pid] = f"{roles[parent]}: child"
    for pid, role in roles.items():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        rss = [line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")]
        if not rss:  # exited between the listing and this read: a zombie has no memory lines
            continue
        kb = int(rss[0])
        soak.rss.setdefault((role, pid), []).append((index, kb * 1024 / MB))


def rss_slopes(soak: Soak, ticks: int) -> list[tuple[str, int, float, float, float]]:
    """Per process: first and last RSS (MB) and the slope (MB per 1,000 ticks) fitted over the
    second half of its samples (the first half holds the warm-up: imports, caches filling)."""
    from scipy.stats import linregress

    out = []
    for (role, pid), samples in sorted(soak.rss.items()):
        if len(samples) < 10:
            continue
        tail = samples[len(samples) // 2 :]
        x, y = np.array([s[0] for s in tail], float), np.array([s[1] for s in tail])
        slope = linregress(x, y).slope * 1000 if np.ptp(x) else 0.0
        out.append((role, pid, samples[0][1], samples[-1][1], slope))
    return out


# --- main ---------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--symbols", default="all")
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--summary", type=Path, help="write the figures as JSON here")
    parser.add_argument(
        "--minutes", type=float, help="stop ticking after this long and report what ran"
    )
    args = parser.parse_args()
    symbols = (
        sorted(p.name.split("_")[2] for p in UNIVERSE.glob("*_1h.csv.gz"))
        if args.symbols == "all"
        else args.symbols.split(",")
    )
    faults = [f for f in args.faults.split(",") if f]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        sys.exit(f"unknown faults {sorted(unknown)}; choose from {FAULTS}")
    soak = setup(symbols)
    try:
        run(soak, args.days * 24, faults, args.minutes)
    finally:
        soak.listener.stopping = True  # before the servers stop, so their end is no outage
        soak.listener.join(5)
        stop(*(p for name, p in soak.processes.items()))
        soak.replay.stop()
    targets = report(soak, args.days * 24, faults)
    if args.summary:
        args.summary.write_text(json.dumps(soak.summary, indent=1))
    targets.finish()


def setup(symbols: list[str]) -> Soak:
    redis_port = free_port()
    redis = start_redis(redis_port)
    klines, funding = universe_files(symbols)
    start_ms = int(START.timestamp() * 1000)
    replay = ReplayServer(klines, funding, now_ms=start_ms).start()
    env = production_env(
        "soak",
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        BINANCE_BASE_URL=replay.url,
        BINANCE_TIMEOUT="1",
        BINANCE_MAX_RETRIES="1",
        TRADINGAI_SYMBOLS=",".join(symbols),
        TRADINGAI_RANDOM_RUNS="20",
        # Health judges freshness by the wall clock; this replay runs in 2024. The soak judges
        # an exchange outage by the simulated clock instead (see _lag_hours).
        TRADINGAI_FRESHNESS_INTERVALS="100000000",
    )
    print(f"preparing: database, history of {len(symbols)} symbols before {START:%Y-%m-%d}, "
          "a quick universe champion ...", flush=True)  # fmt: skip
    fresh_database(env)
    import_history(env, klines, funding, start_ms)
    subprocess.run(
        [sys.executable, "manage.py", "train_all", "--pooled", "--quick", "--force",
         "--symbols", ",".join(symbols), "--until", START.strftime("%Y-%m-%d")],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    key = shell_key(env, "from tradingai.models import ApiKey\n"
                         "print('KEY', ApiKey.issue('soak')[1])")  # fmt: skip
    daphne, ws_url = start_daphne(env, quiet=True)
    granian, web = start_granian(env, workers=1, threads=4, quiet=True)
    worker = start_worker(env, "--concurrency", "2", "--loglevel", "WARNING", quiet=True)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tradingai.settings"
    import django

    django.setup()
    soak = Soak(env, symbols, klines, replay, web, key,
                {"redis": redis, "daphne": daphne, "granian": granian, "worker": worker},
                redis_port)  # fmt: skip
    stream = ws_url.replace("http://", "ws://") + f"/api/realtime/signals?key={key}"
    soak.listener = Listener(stream)
    soak.listener.start()
    if not soak.listener.ready.wait(60):
        sys.exit("could not subscribe to /api/realtime/signals")
    _wait_for_worker()
    return soak


def _wait_for_worker(seconds: float = 120) -> None:
    """Until the worker answers a ping: its pool processes are up by then, and each loaded its
    champions as it started (signals.tasks._load_champions), so the first tick does not pay it."""
    from tradingai.celery import app

    deadline = time.time() + seconds
    while not app.control.ping(timeout=1.0):
        if time.time() > deadline:
            sys.exit(f"the Celery worker did not answer a ping in {seconds:.0f} s")


def run(soak: Soak, hours: int, faults: list[str], minutes: float | None = None) -> None:
    """The ticks, with the faults spread over the first half (the second half is the steady
    state after them: memory slope, latency after). Ctrl-C or ``minutes`` ends it early; the
    report covers the ticks that ran."""
    at = {f: int(hours * (i + 1) / (2 * len(faults) + 2)) for i, f in enumerate(faults)}
    stop_at = time.time() + minutes * 60 if minutes else float("inf")
    soak.fault_ticks = dict(at)
    print(f"{hours} ticks of {len(soak.symbols)} symbols; faults at ticks {at}", flush=True)

    def run_tick(i: int, bar_ms: int, wait: float, fault: bool = False) -> dict:
        record = tick(soak, i, bar_ms, wait, fault)
        # One user's read per tick, timed.
        status, _, seconds = get_json(f"{soak.web}/api/signals?limit=50", soak.key)
        soak.api_statuses[status] += 1
        if status == 200:
            soak.api_seconds.append((i, seconds))
        return record

    try:
        _ticks(soak, hours, at, stop_at, run_tick)
    except KeyboardInterrupt:
        print(f"stopped by hand after {len(soak.ticks)} ticks", flush=True)
    _wait_for_pushes(soak)
    soak.web_same = all(soak.processes[n].poll() is None for n in ("granian", "daphne"))
    elapsed = soak.ticks[-1]["sent"] - soak.ticks[0]["sent"] if soak.ticks else 0.0
    per_tick = elapsed / max(len(soak.ticks), 1)
    print(f"{len(soak.ticks)} ticks in {elapsed:.0f} s ({per_tick:.2f} s a tick)")


def _wait_for_pushes(soak: Soak, seconds: float = 5) -> None:
    """Until every signal stored since the last outage has reached the client (the last tick's
    pushes may still be in flight when its signals are stored), or ``seconds`` pass: one that
    never arrives is the report's to count."""
    from signals.models import Signal

    since = max((until for _, _, until in soak.outages), default=0.0) + 5
    deadline = time.time() + seconds
    while time.time() < deadline:
        stored = Signal.objects.filter(created_at__gte=datetime.fromtimestamp(since, UTC))
        if set(stored.values_list("id", flat=True)) <= set(soak.listener.arrivals):
            return
        time.sleep(0.1)


def _ticks(soak: Soak, hours: int, at: dict[str, int], stop_at: float, run_tick) -> None:
    start_ms = int(START.timestamp() * 1000)
    every = max(1, hours // 300)
    index, last_print = 0, time.time()
    pending = sorted(at.items(), key=lambda kv: kv[1])  # a long fault may pass the next's tick
    while index < hours and time.time() < stop_at:
        bar_ms = start_ms + index * HOUR_MS
        fault = pending.pop(0)[0] if pending and index >= pending[0][1] else None
        if fault:
            soak.fault_ticks[fault] = index  # when it ran
        if fault in ("worker", "import", "training"):
            print(f"fault at tick {index}: {fault}", flush=True)
            {"worker": fault_worker, "import": fault_import, "training": fault_training}[fault](
                soak, index, bar_ms
            )
            if fault == "worker":  # the tick the kill interrupted, finished by the redelivery
                soak.ticks.append(tick(soak, index, bar_ms, 60.0))
                index += 1
                continue
        if fault in ("exchange", "redis", "postgres"):
            print(f"fault at tick {index}: {fault}", flush=True)
            handler = {"exchange": fault_exchange, "redis": fault_redis,
                       "postgres": fault_postgres}[fault]  # fmt: skip
            index += handler(soak, index, bar_ms, run_tick)
            continue
        soak.ticks.append(run_tick(index, bar_ms, 30.0))
        if index % every == 0:
            sample_rss(soak, index)
        index += 1
        if time.time() - last_print > 30:
            print(f"  tick {index}/{hours} ({index / hours:.0%})", flush=True)
            last_print = time.time()


def report(soak: Soak, hours: int, faults: list[str]) -> Targets:
    """Every figure from the database and the client's records; the targets checked."""
    from django.db.models import Count

    from analysis.models import Candle
    from analysis.quality import ms_to_datetime
    from signals.models import Signal

    start_ms = int(START.timestamp() * 1000)
    end_ms = max((t["bar"] for t in soak.ticks), default=start_ms)  # what ran, if stopped early
    targets = Targets()
    # Candles: every source row of the run's hours stored, with the source's values.
    lost = mismatched = expected_candles = 0
    for (symbol, _), frame in soak.klines.items():
        source = frame[(frame.open_time >= start_ms) & (frame.open_time <= end_ms)]
        stored = pd.DataFrame(
            Candle.objects.filter(
                symbol=symbol, interval="1h", open_time__gte=ms_to_datetime(start_ms),
                open_time__lte=ms_to_datetime(end_ms),
            ).values("open_time", "close")
        )  # fmt: skip
        expected_candles += len(source)
        if stored.empty:
            lost += len(source)
            continue
        stored["open_time"] = stored["open_time"].map(lambda t: int(t.timestamp() * 1000))
        merged = source.merge(stored, on="open_time", how="left", suffixes=("", "_stored"))
        lost += int(merged["close_stored"].isna().sum())
        mismatched += int((merged["close_stored"].astype(float) != merged["close"]).sum()
                          - merged["close_stored"].isna().sum())  # fmt: skip
    signals = list(
        Signal.objects.filter(
            interval="1h", open_time__gte=ms_to_datetime(start_ms),
            open_time__lte=ms_to_datetime(end_ms),
        ).values("id", "symbol", "open_time", "created_at")
    )  # fmt: skip
    duplicates = (
        Signal.objects.filter(interval="1h")
        .values("symbol", "open_time")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    # Pushes: each stored signal received once, or stored inside an outage or a disconnection.
    windows = [(since - 2, until + 5) for _, since, until in soak.outages]
    windows += [(w[0] - 2, (w[1] if len(w) == 2 else time.time()) + 5)
                for w in soak.listener.disconnected]  # fmt: skip
    arrivals = soak.listener.arrivals
    pushed_twice = sum(1 for s in signals if len(arrivals.get(s["id"], [])) > 1)
    unpushed = [s for s in signals if not arrivals.get(s["id"])]
    unexplained_pushes = [
        s for s in unpushed
        if not any(a <= s["created_at"].timestamp() <= b for a, b in windows)
    ]  # fmt: skip
    # Bars: each (symbol, bar) has a signal, a recorded refusal, or was not stored on its own
    # tick (fetched late, by the catch-up after an exchange, Redis or PostgreSQL outage), or
    # its tick ran during such an outage. A bar stored on time and never inferred is a loss.
    on_time = {(s, t["bar"]) for t in soak.ticks if not t["fault"] for s in t["stored"]}
    signalled = {(s["symbol"], int(s["open_time"].timestamp() * 1000)) for s in signals}
    unexplained_bars, late, refused = [], 0, 0
    for (symbol, _), frame in soak.klines.items():
        bars = frame.open_time[(frame.open_time >= start_ms) & (frame.open_time <= end_ms)]
        for bar in bars.astype(int):
            if (symbol, bar) in signalled:
                continue
            if (symbol, bar) in soak.refusals:
                refused += 1
            elif (symbol, bar) not in on_time:
                late += 1
            else:
                unexplained_bars.append((symbol, bar))
    # Latency: bar's fetch sent -> its message received, before the first fault and after the
    # last; and the timed API read.
    first_fault = min(soak.fault_ticks.values(), default=hours)
    last_fault = max(soak.fault_ticks.values(), default=0) + 8
    sent = {t["bar"]: t["sent"] for t in soak.ticks}
    by_tick = {t["bar"]: t["index"] for t in soak.ticks}
    before, after = [], []
    for s in signals:
        bar = int(s["open_time"].timestamp() * 1000)
        if bar in sent and arrivals.get(s["id"]):
            latency = arrivals[s["id"]][0] - sent[bar]
            (before if by_tick[bar] < first_fault else after if by_tick[bar] > last_fault
             else []).append(latency)  # fmt: skip
    api_before = [s for i, s in soak.api_seconds if i < first_fault]
    api_after = [s for i, s in soak.api_seconds if i > last_fault]

    def p(values: list[float], q: float) -> float:
        return float(np.percentile(values, q) * 1000) if values else float("nan")

    print(f"\n{len(soak.ticks)} ticks x {len(soak.symbols)} symbols, production mode "
          "(PostgreSQL, Redis, Celery worker x2, granian, daphne, a WebSocket client)")  # fmt: skip
    print(f"candles: {expected_candles} expected, {lost} lost, {mismatched} differ from the source")
    print(f"signals: {len(signals)} stored, {duplicates} bars with more than one")
    print(f"pushes: {len(signals) - len(unpushed)} received, {pushed_twice} received twice, "
          f"{len(unpushed) - len(unexplained_pushes)} missed inside an outage, "
          f"{len(unexplained_pushes)} missed unexplained")  # fmt: skip
    print(f"bars without a signal: {refused} refused (reason recorded), {late} fetched late "
          f"after an outage, {len(unexplained_bars)} unexplained")  # fmt: skip
    reasons = defaultdict(int)
    for reason in soak.refusals.values():
        reasons[reason.split(" (")[0].split(":")[0]] += 1
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  refused {n:6d}x: {reason}")
    print("outages:", ", ".join(f"{w} {b - a:.1f} s" for w, a, b in soak.outages) or "none")
    print(f"client disconnections: {len(soak.listener.disconnected)}")
    print(
        f"bar -> push p50/p99: before the faults {p(before, 50):.0f}/{p(before, 99):.0f} ms "
        f"({len(before)}), after {p(after, 50):.0f}/{p(after, 99):.0f} ms ({len(after)})"
    )
    print(
        f"API list read p50/p99: before {p(api_before, 50):.1f}/{p(api_before, 99):.1f} ms, "
        f"after {p(api_after, 50):.1f}/{p(api_after, 99):.1f} ms"
    )
    slopes = rss_slopes(soak, hours)
    print(
        "resident memory per process (MB: first, last; slope over the second half, "
        "MB per 1,000 ticks):"
    )
    long_enough = len(soak.ticks) >= 1000
    for role, pid, first, last, slope in slopes:
        print(f"  {role:<15} {pid:>8} {first:7.1f} {last:7.1f} {slope:+7.2f}")
    # The driver is the harness: it keeps every arrival and tick record by design.
    worst = max((abs(s[4]) for s in slopes if s[0] != "soak driver"), default=0.0)
    web_same = soak.web_same
    for what, ok, _ in soak.checks:
        targets.check(what, ok)
    targets.check("no candle lost or changed", lost == 0 and mismatched == 0)
    targets.check("no bar with two signals", duplicates == 0)
    targets.check("no signal pushed twice", pushed_twice == 0)
    targets.check("every signal pushed or its absence inside an outage", not unexplained_pushes)
    targets.check("every bar without a signal explained", not unexplained_bars)
    targets.check("the web processes ran throughout", web_same)
    statuses = dict(sorted(soak.api_statuses.items()))
    print(f"API list reads by status: {statuses} (a 503 while PostgreSQL is down is the answer)")
    targets.check("no API read answered 5xx but 503", not set(statuses) - {200, 503})
    if long_enough:
        word = targets.check("resident memory flat (|slope| < 5 MB per 1,000 ticks)", worst < 5)
        print(f"memory target |slope| < 5 MB per 1,000 ticks: {word}")
    else:
        print("memory slope not judged: fewer than 1,000 ticks")
    if unexplained_bars[:5]:
        print("unexplained bars (first 5):", unexplained_bars[:5])
    if unexplained_pushes[:5]:
        print("unexplained missed pushes (first 5):", [s["id"] for s in unexplained_pushes[:5]])
    soak.summary = {
        "ticks": len(soak.ticks), "symbols": soak.symbols, "faults": faults,
        "candles_expected": expected_candles, "candles_lost": lost, "candles_changed": mismatched,
        "signals": len(signals), "duplicate_bars": duplicates, "pushed_twice": pushed_twice,
        "unpushed": len(unpushed), "unpushed_unexplained": len(unexplained_pushes),
        "bars_refused": refused, "bars_late": late, "bars_unexplained": len(unexplained_bars),
        "outages": soak.outages, "checks": soak.checks, "web_same": web_same,
        "latency_ms": {"before": [p(before, 50), p(before, 99)],
                       "after": [p(after, 50), p(after, 99)]},
        "api_ms": {"before": [p(api_before, 50), p(api_before, 99)],
                   "after": [p(api_after, 50), p(api_after, 99)]},
        "rss": slopes, "api_statuses": statuses, "missed": targets.missed,
    }  # fmt: skip
    return targets


if __name__ == "__main__":
    main()
