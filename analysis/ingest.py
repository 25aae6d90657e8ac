"""Market-data workflows: fetch from Binance, import dump files, validate, repair gaps.

Commands, Celery tasks and the quickstart all call these functions; nothing else writes
candles or funding rates. Every write goes through ``analysis.store`` (atomic, idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
from django.conf import settings

from analysis import universe
from analysis.dumps import BINANCE_KLINE_COLUMNS, KLINE_COLUMNS, FundingDump, read_dump
from analysis.events import candles_stored
from analysis.exchange import Exchange, ExchangeError, ExchangeUnavailable, get_exchange
from analysis.intervals import interval_ms
from analysis.models import Candle, FundingRate
from analysis.quality import QualityReport, find_gaps, ms_to_datetime, row_problems
from analysis.store import EMPTY, UpsertResult, upsert_candles, upsert_funding

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, expected total)
DUMP_SUFFIXES = (".csv", ".csv.gz", ".zip")


def to_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@dataclass(frozen=True)
class FetchResult:
    symbol: str
    interval: str | None  # None for funding
    start: datetime | None
    stored: UpsertResult

    def __str__(self) -> str:
        what = f"{self.symbol} {self.interval}" if self.interval else f"{self.symbol} funding"
        r = self.stored
        return f"{what}: {r.received} received, {r.inserted} new, {r.updated} changed"


# --- fetching from the exchange -------------------------------------------------------------
def klines_frame(raw: list[list]) -> pd.DataFrame:
    """Binance kline arrays -> the frame ``analysis.store`` takes."""
    frame = pd.DataFrame([row[:11] for row in raw], columns=BINANCE_KLINE_COLUMNS[:11])
    out = frame.apply(pd.to_numeric, errors="coerce")
    out["open_time"] = out["open_time"].astype("int64")
    out["close_time"] = out["close_time"].astype("int64")
    out["trades"] = out["trades"].astype("Int64")
    return out[KLINE_COLUMNS]


def _start_ms(last: datetime | None, since: datetime | None, step_ms: int, now_ms: int) -> int:
    """``since``, else just after the last stored row, else HISTORY_DAYS before the
    exchange's now (its clock, not ours: the two can disagree, and replays run in the past)."""
    if since is not None:
        return to_ms(since)
    if last is not None:
        return to_ms(last) + step_ms
    start = now_ms - settings.HISTORY_DAYS * 86_400_000
    return start - start % step_ms  # from the bar that contains that moment


def fetch_klines(
    symbol: str,
    interval: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    exchange: Exchange | None = None,
    progress: Progress | None = None,
    now_ms: int | None = None,
) -> FetchResult:
    """Fetch closed candles and store them, one atomic batch per page. ``now_ms``: the
    exchange's clock when the caller read it already (a round reads it once for every series).

    1. Start at ``since``, else just after the last stored candle, else HISTORY_DAYS ago.
    2. Page through /fapi/v1/klines (1,500 a request) up to ``until`` or the exchange's now.
    3. Keep only candles that have closed by the exchange's clock; check every row.
    4. Upsert each page in its own transaction, so a failure later loses nothing stored.
    """
    exchange = exchange or get_exchange()
    step = interval_ms(interval)
    now = now_ms if now_ms is not None else exchange.server_time()
    start = _start_ms(Candle.objects.last_open_time(symbol, interval), since, step, now)
    end = min(to_ms(until), now) if until else now
    expected = max(0, (end - start) // step + 1)
    total = EMPTY
    try:
        while start <= end:
            raw = exchange.klines(symbol, interval, start, end)
            if not raw:
                break
            page = klines_frame(raw)
            closed = page[page["close_time"] < now]
            problems = row_problems(closed, step)
            if problems:
                bad = closed.iloc[problems[0].row]
                raise ExchangeError(
                    f"Binance sent an invalid {symbol} {interval} candle at "
                    f"{ms_to_datetime(int(bad['open_time']))}: {problems[0].message}"
                )
            total = total + upsert_candles(symbol, interval, closed)
            if progress:
                progress(total.received, expected)
            if len(closed) < len(page) or len(raw) < 1500:
                break  # reached the still-open candle, or the end of what exists
            start = int(page["open_time"].iloc[-1]) + step
    except ExchangeError as exc:
        raise type(exc)(
            f"{exc} (kept {total.received} {symbol} {interval} candles fetched before this; "
            "re-run to continue)"
        ) from exc
    return FetchResult(symbol, interval, ms_to_datetime(start) if expected else None, total)


def funding_frame(raw: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(raw, columns=["fundingTime", "fundingRate", "markPrice"])
    return pd.DataFrame(
        {
            "funding_time": pd.to_numeric(frame["fundingTime"]).astype("int64"),
            "rate": pd.to_numeric(frame["fundingRate"], errors="coerce"),
            # Older settlements come with an empty markPrice: NULL, not zero.
            "mark_price": pd.to_numeric(frame["markPrice"], errors="coerce"),
        }
    )


def fetch_funding(
    symbol: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    exchange: Exchange | None = None,
    progress: Progress | None = None,
    now_ms: int | None = None,
) -> FetchResult:
    """Fetch funding settlements after the last stored one; one atomic batch per page."""
    exchange = exchange or get_exchange()
    now = now_ms if now_ms is not None else exchange.server_time()
    start = _start_ms(FundingRate.objects.last_funding_time(symbol), since, 1, now)
    end = min(to_ms(until), now) if until else now
    eight_hours = 8 * 3_600_000
    expected = max(0, (end - start) // eight_hours + 1)
    total = EMPTY
    try:
        while start <= end:
            raw = exchange.funding_rates(symbol, start, end)
            if not raw:
                break
            page = funding_frame(raw)
            if page["rate"].isna().any():
                raise ExchangeError(f"Binance sent a {symbol} funding rate that is not a number")
            total = total + upsert_funding(symbol, page)
            if progress:
                progress(total.received, expected)
            if len(raw) < 1000:
                break
            start = int(page["funding_time"].iloc[-1]) + 1
    except ExchangeError as exc:
        raise type(exc)(
            f"{exc} (kept {total.received} {symbol} funding rates fetched before this)"
        ) from exc
    return FetchResult(symbol, None, ms_to_datetime(start), total)


def fetch_latest(
    symbols: Iterable[str] | None = None,
    intervals: Iterable[str] | None = None,
    *,
    exchange: Exchange | None = None,
) -> tuple[list[FetchResult], list[str]]:
    """The scheduled fetch: every configured series, then funding. One series failing (an
    unknown symbol, a bad row) is reported and does not stop the others; the exchange being
    unreachable or rate-limiting (429, a 418 ban) ends the round, since every symbol goes to
    the same host and more requests would only lengthen a ban. The next round catches up.

    ``candles_stored`` is sent once the round is over, naming every series fetched, new candles
    or not: the universe model reads every symbol at the bar, so no inference starts before all of
    them are in; and a round killed after a commit and before its events (then redelivered)
    does not leave the newest bar without its inference. Inference is idempotent per bar.
    The exchange's clock is read once a round: every series closes at the same bar."""
    exchange = exchange or get_exchange()
    results: list[FetchResult] = []
    errors: list[str] = []
    fetched: list[tuple[str, str]] = []
    configured_symbols, configured_intervals = universe.current()
    chosen = list(symbols or configured_symbols)
    try:
        now = None
        for position, symbol in enumerate(chosen):
            for interval in [*(intervals or configured_intervals), None]:
                try:
                    now = now if now is not None else exchange.server_time()
                    if interval is None:
                        results.append(fetch_funding(symbol, exchange=exchange, now_ms=now))
                    else:
                        results.append(
                            fetch_klines(symbol, interval, exchange=exchange, now_ms=now)
                        )
                        fetched.append((symbol, interval))
                except ExchangeUnavailable as exc:
                    log.error("fetch_latest: %s; the round stops here", exc)
                    errors.append(str(exc))
                    rest = chosen[position + 1 :]
                    if rest:
                        errors.append(f"not fetched this round: {', '.join(rest)}")
                    return results, errors
                except ExchangeError as exc:
                    log.error("fetch_latest: %s", exc)
                    errors.append(str(exc))
    finally:
        _announce(fetched)
    return results, errors


def _announce(series: list[tuple[str, str]]) -> None:
    newest = [(s, i, Candle.objects.last_open_time(s, i)) for s, i in series]
    stored = [(s, i, bar) for s, i, bar in newest if bar is not None]
    if stored:
        candles_stored.send(sender=fetch_latest, series=stored)


# --- dump files -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportResult:
    path: Path
    symbol: str
    interval: str | None
    stored: UpsertResult

    def __str__(self) -> str:
        what = f"{self.symbol} {self.interval}" if self.interval else f"{self.symbol} funding"
        r = self.stored
        return f"{self.path.name}: {what}: {r.received} rows, {r.inserted} new, {r.updated} changed"


def dump_files(paths: Iterable[Path | str]) -> list[Path]:
    """Files named directly, plus every dump file inside the directories named."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.name.endswith(DUMP_SUFFIXES)))
        else:
            found.append(path)
    return found


def import_file(
    path: Path | str, *, symbol: str | None = None, interval: str | None = None
) -> ImportResult:
    """Parse the whole file first (refusing it with file and line on any bad row), then store
    it in one transaction: a file lands whole or not at all."""
    dump = read_dump(path, symbol=symbol, interval=interval)
    if isinstance(dump, FundingDump):
        return ImportResult(dump.path, dump.symbol, None, upsert_funding(dump.symbol, dump.frame))
    stored = upsert_candles(dump.symbol, dump.interval, dump.frame)
    return ImportResult(dump.path, dump.symbol, dump.interval, stored)


# --- QA gate 1 -------------------------------------------------------------------------------
def validate(symbol: str, interval: str) -> QualityReport:
    """Check a stored series: OHLC sanity, alignment, order, duplicates and gaps."""
    frame = Candle.objects.series(symbol, interval).to_frame()
    step = interval_ms(interval)
    report = QualityReport(symbol, interval, len(frame))
    if frame.empty:
        return report
    times = frame["open_time"].to_numpy()
    report.first, report.last = ms_to_datetime(int(times[0])), ms_to_datetime(int(times[-1]))
    report.problems = row_problems(frame, step)
    report.gaps = find_gaps(times, step)
    return report


def stored_series() -> list[tuple[str, str]]:
    return [(row["symbol"], row["interval"]) for row in Candle.objects.coverage()]


@dataclass
class RepairResult:
    fetched: list[FetchResult] = field(default_factory=list)
    report: QualityReport | None = None  # the series after the repair


def repair_gaps(symbol: str, interval: str, *, exchange: Exchange | None = None) -> RepairResult:
    """Refetch every gap's window from the exchange, then validate again. Gaps the exchange
    cannot fill either (Binance has a few maintenance outages) stay in the new report."""
    exchange = exchange or get_exchange()
    result = RepairResult()
    for gap in validate(symbol, interval).gaps:
        result.fetched.append(
            fetch_klines(symbol, interval, since=gap.first, until=gap.last, exchange=exchange)
        )
    result.report = validate(symbol, interval)
    return result
