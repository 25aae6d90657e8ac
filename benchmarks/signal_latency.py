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

The universe tick (``--part universe``): a universe of 38 series (the 13 research symbols of
``../shared/data/universe/`` and 25 synthetic ones, each the geometric mean of two of them) served
by one quick universe champion trained on the 13 before the measured bars. For each of 60 bars,
every series' candle is committed (one transaction each, as the fetch commits them), then the
fetch's one event names all of them (the worker infers them in two tasks, each predicting its
series together); the tick's latency runs from the last commit to the last of its 38 messages
on the socket. Target: p99 over the ticks under 1 s. A first tick warms up and is reported apart
(it reads every series in full). A round's signals share its ``inputs`` and ``models`` stages;
its ``database`` stage runs from them to the signal's row (the other series' levels included).
"""

from __future__ import annotations

import argparse
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
UNIVERSE_DIR = ROOT.parent / "shared" / "data" / "universe"
TICKS = 60
UNIVERSE_SERIES = 38


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
        "from mlcore.training.symbol import train\n"
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
            candles_stored.send(sender="benchmark", series=[(symbol, "1h", when)])
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("series", "universe", "both"), default="both")
    part = parser.parse_args().part
    if part == "both":  # each part in a process of its own: Django is set up once a process
        missed = [
            subprocess.run([sys.executable, __file__, "--part", p]).returncode
            for p in ("series", "universe")
        ]
        sys.exit(1 if any(missed) else 0)
    targets = Targets()
    if part == "series":
        series_latency(targets)
    else:
        universe_tick(targets)
    targets.finish()


def series_latency(targets: Targets) -> None:
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
            step(measure, "BAR", listener, (i + 1) * len(SYMBOLS), wait=10)
            if i % 50 == 49:
                print(f"  {i + 1} bars", flush=True)
        cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_seconds().items()}
        measure.stdin.write("\n")
        measure.stdin.flush()
        commits = json.loads(measure.stdout.readline().removeprefix("COMMITS "))
    finally:
        stop(*procs, measure)
    report(targets, env, commits, listener.arrivals)
    print_cpu(cpu, BARS * len(SYMBOLS), "bar")


def step(
    measure: subprocess.Popen, word: str, listener: Listener, arrived: int, wait: float
) -> None:
    """Tell the committer to commit its next step, then wait (at most ``wait`` seconds) until
    ``arrived`` messages in all have come over the socket."""
    measure.stdin.write("\n")
    measure.stdin.flush()
    line = measure.stdout.readline()
    assert line.startswith(word), line
    deadline = time.time() + wait
    while len(listener.arrivals) < arrived and time.time() < deadline:
        time.sleep(0.002)


def print_cpu(cpu: dict[str, float], signals: int, per: str) -> None:
    print(f"CPU per {per}, by process (all on the same 2 cores):")
    for role, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"  {role:<17} {seconds / signals * 1000:6.2f} ms")


def setup_django(env: dict[str, str]) -> None:
    import django

    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tradingai.settings"
    django.setup()


STAGES = ("queue", "inputs", "features", "models", "shap", "database", "push")


def stage_times(signal, committed: float, received: float) -> dict[str, float]:
    """Where one signal's time went, from the timings the worker recorded on it."""
    t = signal.timings
    computed = sum(t.get(k, 0.0) for k in ("inputs", "features", "models", "shap"))
    stored = signal.created_at.timestamp()
    return {
        "queue": t["started_at"] - committed,
        **{k: t.get(k, 0.0) for k in ("inputs", "features", "models", "shap")},
        "database": max(stored - t["started_at"] - computed, 0.0),
        "push": received - stored,
    }


def print_stages(stages: dict[str, list[float]]) -> None:
    total = sum(np.mean(v) for v in stages.values())
    print("share of the mean latency per stage:")
    for name, values in stages.items():
        mean = np.mean(values) * 1000
        print(f"  {name:<9} {mean:6.2f} ms  {np.mean(values) / total:6.1%}")


def report(targets: Targets, env: dict[str, str], commits: list, arrivals: dict) -> None:
    setup_django(env)
    from signals.models import Signal

    stages: dict[str, list[float]] = {k: [] for k in STAGES}
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
        for key, value in stage_times(s, committed, received).items():
            stages[key].append(value)
        raw.append(
            {
                "symbol": symbol,
                "open_time": open_time,
                "committed": committed,
                "received": received,
                "stored": s.created_at.timestamp(),
                **s.timings,
            }
        )
    print(
        f"\n{BARS} bars x {len(SYMBOLS)} series, production mode (PostgreSQL, Redis, "
        f"Celery worker x2, daphne); {missing} messages missing"
    )
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
    print_stages(stages)


# --- the universe tick ----------------------------------------------------------------------
def universe_series() -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """38 series: the 13 research symbols, and 25 synthetic ones, each the geometric mean of
    two of them bar by bar (a valid candle: the mean of two highs is above the mean of two
    opens and closes), with the first one's funding."""
    real = {}
    for path in sorted(UNIVERSE_DIR.glob("binance_futures_*_1h.csv.gz")):
        symbol = path.name.split("_")[2]
        candles = pd.read_csv(path)
        funding = pd.read_csv(UNIVERSE_DIR / f"binance_futures_{symbol}_funding.csv.gz")
        real[symbol] = (candles, funding)
    names = sorted(real)
    series = dict(real)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    for n, (a, b) in enumerate(pairs[:: max(1, len(pairs) // 25)][: UNIVERSE_SERIES - len(real)]):
        ca, cb = real[a][0], real[b][0]
        both = ca.merge(cb, on="open_time", suffixes=("_a", "_b"))
        candles = pd.DataFrame({"open_time": both["open_time"]})
        for column in ("open", "high", "low", "close", "volume"):
            candles[column] = np.sqrt(both[f"{column}_a"] * both[f"{column}_b"])
        funding = real[a][1].assign(symbol=f"SYN{n:02d}USDT")
        series[f"SYN{n:02d}USDT"] = (candles, funding)
    return series


def prepare_universe(env: dict[str, str], series: dict, until: pd.Timestamp) -> str:
    """Fresh database, the 38 series from 2024 on, a quick universe champion trained on the 13
    research symbols before ``until``; returns a read key."""
    fresh_database(env)
    folder = Path(env["TRADINGAI_VAR_DIR"]) / "series"
    folder.mkdir(parents=True, exist_ok=True)
    start = int(pd.Timestamp("2024-01-01", tz="UTC").timestamp() * 1000)
    files = []
    for symbol, (candles, funding) in series.items():
        path = folder / f"binance_futures_{symbol}_1h.csv.gz"
        candles[candles.open_time >= start].to_csv(path, index=False)
        files.append(str(path))
        path = folder / f"binance_futures_{symbol}_funding.csv.gz"
        funding[funding.funding_time >= start].to_csv(path, index=False)
        files.append(str(path))
    subprocess.run([sys.executable, "manage.py", "import_klines", *files], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    research = [s for s in series if not s.startswith("SYN")]
    subprocess.run(
        [sys.executable, "manage.py", "train_all", "--pooled", "--quick", "--force",
         "--symbols", ",".join(research), "--until", f"{until:%Y-%m-%d}"],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return shell_key(
        env, "from tradingai.models import ApiKey\nprint('KEY', ApiKey.issue('latency')[1])"
    )


TICK = """  # run by manage.py shell: commits one tick of every series when told
import json, sys, time
from django.db import transaction
from analysis.events import candles_stored
from analysis.models import Candle
from analysis.store import delete_candles, upsert_candles
from analysis.market import candles_frame
from analysis.quality import ms_to_datetime
symbols, ticks = %r, %d
held = {}
for symbol in symbols:
    last = Candle.objects.last_open_time(symbol, "1h")
    start = ms_to_datetime(int(last.timestamp() * 1000) - (ticks - 1) * 3_600_000)
    frame = candles_frame(symbol, "1h", since=start)
    frame["close_time"] = frame["open_time"] + 3_600_000 - 1
    for column in ("quote_volume", "trades", "taker_buy_base", "taker_buy_quote"):
        frame[column] = float("nan")
    held[symbol] = [frame.iloc[i : i + 1] for i in range(ticks)]
    delete_candles(symbol, "1h", open_time__gte=start)
print("READY", flush=True)
sys.stdin.readline()
out = []
for i in range(ticks):
    for symbol in symbols:  # one transaction a series, as the fetch commits them
        with transaction.atomic():
            upsert_candles(symbol, "1h", held[symbol][i])
    committed = time.time()
    bar = ms_to_datetime(int(held[symbols[0]][i]["open_time"].iloc[0]))
    # then the round's event (``ingest._announce``)
    candles_stored.send(sender="benchmark", series=[(symbol, "1h", bar) for symbol in symbols])
    out.append([bar.isoformat(), committed])
    print("TICK", i, flush=True)
    sys.stdin.readline()
print("COMMITS " + json.dumps(out), flush=True)
"""


def universe_tick(targets: Targets) -> None:
    env = production_env("latency_universe", TRADINGAI_RANDOM_RUNS="20")
    series = universe_series()
    symbols = sorted(series)
    last = min(int(c.open_time.iloc[-1]) for c, _ in series.values())
    until = pd.Timestamp(last - TICKS * 3_600_000, unit="ms", tz="UTC").floor("D")
    print(f"\npreparing: {len(symbols)} series, a quick universe champion until "
          f"{until:%Y-%m-%d} ...", flush=True)  # fmt: skip
    key = prepare_universe(env, series, until)
    daphne, url = start_daphne(env, quiet=True)
    procs = [
        daphne,
        start_worker(env, "--concurrency", "2", "--loglevel", "WARNING", quiet=True),
    ]
    measure = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-v0", "-c", TICK % (symbols, TICKS + 1)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert measure.stdout.readline().startswith("READY")
        listener = Listener(url.replace("http://", "ws://") + f"/api/realtime/signals?key={key}")
        listener.start()
        if not listener.ready.wait(60):
            sys.exit("could not subscribe to /api/realtime/signals")
        time.sleep(20)  # let the worker load its models before the clock runs
        for i in range(TICKS + 1):  # the first warms up (see universe_report)
            if i == 1:
                cpu_before = cpu_seconds()
            step(measure, "TICK", listener, (i + 1) * len(symbols), wait=30)
            if i % 20 == 19:
                print(f"  {i + 1} ticks", flush=True)
        cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_seconds().items()}
        measure.stdin.write("\n")
        measure.stdin.flush()
        commits = json.loads(measure.stdout.readline().removeprefix("COMMITS "))
    finally:
        stop(*procs, measure)
    universe_report(targets, env, symbols, commits, listener.arrivals)
    print_cpu(cpu, TICKS * len(symbols), "signal")


def universe_report(
    targets: Targets, env: dict[str, str], symbols: list[str], commits: list, arrivals: dict
) -> None:
    setup_django(env)
    from signals.models import Signal

    # The first tick is not counted: the bars were taken out of the store to be committed
    # again, which retires every kept span (a full read of each series, as after a repair),
    # and it opens the committer's broker connection (a fetch task's is open already).
    warmup, commits = commits[0], commits[1:]
    got = [arrivals.get((s, warmup[0])) for s in symbols]
    if all(got):
        first = max(received for received, _ in got) - warmup[1]
        print(f"warm-up tick (full reads, not counted): {first * 1000:.0f} ms")
    stages: dict[str, list[float]] = {k: [] for k in STAGES}
    ticks, missing, raw = [], 0, []
    for open_time, committed in commits:
        got = [arrivals.get((s, open_time)) for s in symbols]
        missing += sum(a is None for a in got)
        if any(a is None for a in got):
            continue
        ticks.append(max(received for received, _ in got) - committed)
        for signal in Signal.objects.filter(pk__in=[i for _, i in got]):
            received = arrivals[(signal.symbol, open_time)][0]
            for name, value in stage_times(signal, committed, received).items():
                stages[name].append(value)
            raw.append({"symbol": signal.symbol, "open_time": open_time, "committed": committed,
                         "received": received, "stored": signal.created_at.timestamp(),
                         **signal.timings})  # fmt: skip
    saved = Path(env["TRADINGAI_VAR_DIR"]) / "universe_tick.json"
    saved.write_text(json.dumps(raw))
    print(
        f"\n{len(commits)} ticks x {len(symbols)} series served by one universe champion, "
        f"production mode (PostgreSQL, Redis, Celery worker x2, daphne); "
        f"{missing} messages missing"
    )
    targets.check(f"every universe signal pushed ({missing} missing)", missing == 0)
    ms = np.asarray(ticks) * 1000
    p50, p99 = (np.percentile(ms, q) if len(ms) else float("nan") for q in (50, 99))
    word = targets.check("universe tick p99 < 1 s", len(ms) >= 50 and p99 < 1000)
    print(
        f"universe tick, last commit -> last of {len(symbols)} messages: p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms over {len(ms)} ticks (target p99 < 1000 ms: {word})"
    )
    if len(ms):
        print(f"  ticks: p90 {np.percentile(ms, 90):.0f} ms, slowest {ms.max():.0f} ms "
              f"(every signal's times: {saved.relative_to(ROOT)})")  # fmt: skip
    print_stages(stages)


if __name__ == "__main__":
    main()
