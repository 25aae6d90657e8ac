"""Read kline and funding-rate files into frames. Pure pandas; no Django.

Understands
- Binance's public dumps (data.binance.vision): ``BTCUSDT-1h-2024-01.zip`` / ``-2024-01-15``,
  zipped or not, with or without the header row newer files carry; funding dumps
  ``BTCUSDT-fundingRate-2024-01.zip``;
- this project's shared files: ``binance_futures_BTCUSDT_1h.csv.gz`` and
  ``binance_futures_BTCUSDT_funding.csv.gz``.
A file that cannot be read whole is refused with its name and the first bad line; nothing of it
is returned, so nothing of it is stored.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.intervals import interval_ms
from analysis.quality import row_problems

# Binance's kline layout, in file order; a headerless file is read by position.
BINANCE_KLINE_COLUMNS = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_base",
    "taker_buy_quote",
    "ignore",
]
HEADER_ALIASES = {
    "count": "trades",
    "number_of_trades": "trades",
    "taker_buy_volume": "taker_buy_base",
    "taker_buy_base_volume": "taker_buy_base",
    "taker_buy_quote_volume": "taker_buy_quote",
    "calc_time": "funding_time",
    "last_funding_rate": "funding_rate",
}
REQUIRED_KLINE = ["open_time", "open", "high", "low", "close", "volume"]
OPTIONAL_KLINE = ["close_time", "quote_volume", "trades", "taker_buy_base", "taker_buy_quote"]
KLINE_COLUMNS = REQUIRED_KLINE + OPTIONAL_KLINE

_BINANCE_KLINE_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9]+)-(?P<interval>\d+[mhd])-\d{4}-\d{2}(-\d{2})?\.(csv|csv\.gz|zip)$"
)
_BINANCE_FUNDING_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9]+)-fundingRate-\d{4}-\d{2}\.(csv|csv\.gz|zip)$"
)
_SHARED_NAME = re.compile(
    r"^binance_futures_(?P<symbol>[A-Z0-9]+)_(?P<kind>\d+[mhd]|funding)\.(csv|csv\.gz|zip)$"
)
# Epoch ms stays below this until the year 5138; microsecond stamps (Binance's newer spot
# dumps) are far above it.
_MS_CEILING = 10**14


class DumpFormatError(ValueError):
    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.reason = str(path), line, message


@dataclass(frozen=True)
class KlineDump:
    path: Path
    symbol: str
    interval: str
    frame: pd.DataFrame  # KLINE_COLUMNS; times in epoch ms; missing optional columns are NaN


@dataclass(frozen=True)
class FundingDump:
    path: Path
    symbol: str
    frame: pd.DataFrame  # funding_time (epoch ms), rate, mark_price (NaN when absent)


def identify(path: Path) -> tuple[str, str, str | None]:
    """``(kind, symbol, interval)`` from the file name; kind is "klines" or "funding"."""
    name = path.name
    if m := _BINANCE_KLINE_NAME.match(name):
        return "klines", m["symbol"], m["interval"]
    if m := _BINANCE_FUNDING_NAME.match(name):
        return "funding", m["symbol"], None
    if m := _SHARED_NAME.match(name):
        if m["kind"] == "funding":
            return "funding", m["symbol"], None
        return "klines", m["symbol"], m["kind"]
    raise DumpFormatError(
        path,
        None,
        "cannot tell symbol and interval from the file name; expected e.g. "
        "BTCUSDT-1h-2024-01.zip, BTCUSDT-fundingRate-2024-01.zip or "
        "binance_futures_BTCUSDT_1h.csv.gz (or pass --symbol and --interval)",
    )


def read_dump(
    path: Path | str, *, symbol: str | None = None, interval: str | None = None
) -> KlineDump | FundingDump:
    path = Path(path)
    if symbol and interval:
        kind, name_symbol, name_interval = "klines", symbol, interval
    else:
        kind, name_symbol, name_interval = identify(path)
    text = _read_text(path)
    if kind == "funding":
        return FundingDump(path, symbol or name_symbol, _parse_funding(path, text))
    interval = interval or name_interval
    assert interval is not None
    return KlineDump(path, symbol or name_symbol, interval, _parse_klines(path, text, interval))


def _read_text(path: Path) -> str:
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [n for n in archive.namelist() if n.endswith(".csv")]
                if len(members) != 1:
                    raise DumpFormatError(
                        path, None, f"expected one CSV in the zip, found {members}"
                    )
                raw = archive.read(members[0])
        elif path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
        return raw.decode("utf-8")
    except (OSError, zipfile.BadZipFile, EOFError, UnicodeDecodeError) as exc:
        raise DumpFormatError(path, None, f"cannot read file: {exc}") from exc


def _has_header(text: str) -> bool:
    first = text.split("\n", 1)[0].split(",", 1)[0].strip()
    return not first.lstrip("-").isdigit()


def _column_names(text: str, positional: list[str] | None) -> tuple[list[str] | None, bool]:
    """The (aliased) column names and whether the first line is a header."""
    if not _has_header(text):
        return positional, False
    first = text.split("\n", 1)[0]
    return [
        HEADER_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in first.split(",")
    ], True


def _read_numbers(
    path: Path, text: str, positional: list[str] | None, required: list[str], optional: list[str]
) -> dict[str, np.ndarray]:
    """The wanted columns as float arrays. The fast path parses numbers directly; any failure
    falls back to the string parser, which finds and names the first bad line."""
    if not text.strip():
        raise DumpFormatError(path, None, "the file is empty")
    names, header = _column_names(text, positional)
    if names is not None:
        present = [c for c in required + optional if c in names]
        try:
            frame = pd.read_csv(
                io.StringIO(text),
                header=0 if header else None,
                names=names,
                dtype=dict.fromkeys(present, np.float64),
                engine="c",
            )
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
            frame = None
        if (
            frame is not None
            and len(frame)
            and set(required) <= set(present)
            and not frame[required].isna().to_numpy().any()
        ):
            return {
                c: frame[c].to_numpy() if c in frame else np.full(len(frame), np.nan)
                for c in required + optional
            }
    table, first_line = _read_table(path, text, positional)
    values = _numbers(path, table, first_line, required, required=True)
    return values | _numbers(path, table, first_line, optional, required=False)


def _read_table(path: Path, text: str, positional: list[str] | None) -> tuple[pd.DataFrame, int]:
    """The CSV as strings, and the line number of its first data row."""
    names, header = _column_names(text, positional)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            header=0 if header else None,
            names=names,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise DumpFormatError(
            path, int(match[1]) if match else None, f"malformed CSV: {exc}"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DumpFormatError(path, None, "the file is empty") from exc
    # A trailing blank line is harmless; any other blank line is a malformed row.
    while len(frame) and (frame.iloc[-1] == "").all():
        frame = frame.iloc[:-1]
    return frame, 2 if header else 1


def _numbers(
    path: Path, frame: pd.DataFrame, first_line: int, columns: list[str], required: bool
) -> dict[str, np.ndarray]:
    out = {}
    for column in columns:
        if column not in frame:
            if required:
                raise DumpFormatError(
                    path, first_line - 1 if first_line > 1 else None, f"missing column {column!r}"
                )
            out[column] = np.full(len(frame), np.nan)
            continue
        raw = frame[column].str.strip()
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(values) & ((raw != "") | required)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            shown = raw.iloc[row] or "(empty)"
            raise DumpFormatError(
                path,
                first_line + row,
                f"{column} is not a number: {shown!r} ({int(bad.sum())} bad rows)",
            )
        out[column] = values
    return out


def _epoch_ms(values: np.ndarray) -> np.ndarray:
    ms = values.astype(np.int64)
    return ms // 1000 if len(ms) and ms.max() > _MS_CEILING else ms


def _parse_klines(path: Path, text: str, interval: str) -> pd.DataFrame:
    step = interval_ms(interval)
    values = _read_numbers(path, text, BINANCE_KLINE_COLUMNS, REQUIRED_KLINE, OPTIONAL_KLINE)
    if not len(values["open_time"]):
        raise DumpFormatError(path, None, "the file has no candles")
    frame = pd.DataFrame(values)
    first_line = 2 if _has_header(text) else 1
    frame["open_time"] = _epoch_ms(values["open_time"])
    close = values["close_time"]
    # Absent close times are derived exactly as Binance defines them: the last ms of the bar.
    frame["close_time"] = np.where(
        np.isnan(close), frame["open_time"] + step - 1, np.nan_to_num(close)
    ).astype(np.int64)
    frame["close_time"] = _epoch_ms(frame["close_time"].to_numpy())
    frame["trades"] = pd.Series(values["trades"]).astype("Int64")  # NaN becomes <NA>, not 0
    problems = row_problems(frame, step)
    if problems:
        first = problems[0]
        raise DumpFormatError(
            path, first_line + first.row, f"{first.message} ({len(problems)} bad rows)"
        )
    return frame[KLINE_COLUMNS]


def _parse_funding(path: Path, text: str) -> pd.DataFrame:
    values = _read_numbers(path, text, None, ["funding_time", "funding_rate"], ["mark_price"])
    first_line = 2 if _has_header(text) else 1
    frame = pd.DataFrame(
        {
            "funding_time": _epoch_ms(values["funding_time"]),
            "rate": values["funding_rate"],
            "mark_price": values["mark_price"],
        }
    )
    if len(frame) > 1 and (np.diff(frame["funding_time"].to_numpy()) <= 0).any():
        row = int(np.flatnonzero(np.diff(frame["funding_time"].to_numpy()) <= 0)[0]) + 1
        raise DumpFormatError(path, first_line + row, "funding times must strictly increase")
    return frame
