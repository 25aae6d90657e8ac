"""A loopback stand-in for Binance USD-M: replays the recorded responses in
``shared/data/binance_api/`` and serves klines and funding rates cut from the real shared
history in the exact shapes of those recordings (strings for prices, integers for times).

The shared candle files lack quote volume, trade count and taker volumes; the replayed klines
fill them with values derived from the row (marked SYNTHETIC below) so the full API shape is
exercised. Failures are scripted: queue responses in ``fail_next``, or set ``delay``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RECORDED = SHARED / "binance_api"


def load_series() -> tuple[dict[tuple[str, str], pd.DataFrame], dict[str, pd.DataFrame]]:
    klines, funding = {}, {}
    for path in SHARED.glob("binance_futures_*.csv.gz"):
        _, _, symbol, kind = path.name.removesuffix(".csv.gz").split("_")
        frame = pd.read_csv(path)
        if kind == "funding":
            funding[symbol] = frame
        else:
            klines[(symbol, kind)] = frame
    return klines, funding


@dataclass
class Scripted:
    status: int
    body: object
    headers: dict[str, str] = field(default_factory=dict)


class ReplayServer:
    def __init__(self, klines: dict, funding: dict, now_ms: int) -> None:
        self.klines, self.funding, self.now_ms = klines, funding, now_ms
        self.overrides: dict[str, object] = {}  # path -> a JSON body to serve instead
        self.fail_next: list[Scripted] = []
        self.fail_always: Scripted | None = None
        self.fail_after: int | None = None  # serve this many kline pages, then fail_always
        self.delay = 0.0
        self.requests: list[tuple[str, str, dict]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A client that timed out on purpose hangs up mid-reply; that is not news.
        self._server.handle_error = lambda request, address: None
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> ReplayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        self.fail_next.clear()
        self.fail_always = None
        self.fail_after = None
        self.delay = 0.0
        self.requests.clear()
        self.overrides.clear()

    # --- routes ---------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, str]) -> Scripted:
        if self.fail_next:
            return self.fail_next.pop(0)
        kline_pages = sum(1 for _, p, _ in self.requests if p.endswith("/klines"))
        if self.fail_always and (self.fail_after is None or kline_pages > self.fail_after):
            return self.fail_always
        if method != "GET":
            return Scripted(405, {"code": -1000, "msg": "replay serves GET only"})
        if path == "/fapi/v1/ping":
            return Scripted(200, {})
        if path == "/fapi/v1/time":
            return Scripted(200, {"serverTime": self.now_ms})
        if path == "/fapi/v1/klines":
            return self._klines(query)
        if path == "/fapi/v1/fundingRate":
            return self._funding(query)
        recorded = {
            "/fapi/v1/exchangeInfo": "fapi_v1_exchangeInfo.json",
            "/fapi/v1/premiumIndex": "fapi_v1_premiumIndex.json",
            "/fapi/v1/openInterest": "fapi_v1_openInterest.json",
            "/futures/data/openInterestHist": "futures_data_openInterestHist.json",
            "/fapi/v2/account": "fapi_v2_account.json",
            "/fapi/v3/balance": "fapi_v3_balance.json",
            "/fapi/v3/positionRisk": "fapi_v3_positionRisk.json",
            "/sapi/v1/account/apiRestrictions": "sapi_v1_account_apiRestrictions.json",
        }
        if path in self.overrides:
            return Scripted(200, self.overrides[path])
        if path in recorded:
            return Scripted(200, json.loads((RECORDED / recorded[path]).read_text()))
        return Scripted(404, {"code": -1, "msg": f"no replay for {path}"})

    def _klines(self, q: dict[str, str]) -> Scripted:
        frame = self.klines.get((q.get("symbol", ""), q.get("interval", "")))
        if frame is None:
            return Scripted(400, {"code": -1121, "msg": "Invalid symbol."})
        start, limit = int(q.get("startTime", 0)), min(int(q.get("limit", 500)), 1500)
        end = int(q.get("endTime", self.now_ms))
        rows = frame[(frame.open_time >= start) & (frame.open_time <= min(end, self.now_ms))]
        step = int(frame.open_time.iloc[1] - frame.open_time.iloc[0])
        body = [
            [
                int(r.open_time),
                repr(r.open),
                repr(r.high),
                repr(r.low),
                repr(r.close),
                repr(r.volume),
                int(r.open_time) + step - 1,
                repr(round(r.volume * r.close, 4)),  # SYNTHETIC quote volume
                int(r.volume) + 1,  # SYNTHETIC trade count
                repr(round(r.volume / 2, 3)),  # SYNTHETIC taker buy base
                repr(round(r.volume * r.close / 2, 4)),  # SYNTHETIC taker buy quote
                "0",
            ]
            for r in rows.head(limit).itertuples()
        ]
        return Scripted(200, body)

    def _funding(self, q: dict[str, str]) -> Scripted:
        frame = self.funding.get(q.get("symbol", ""))
        if frame is None:
            return Scripted(400, {"code": -1121, "msg": "Invalid symbol."})
        start, limit = int(q.get("startTime", 0)), min(int(q.get("limit", 100)), 1000)
        end = int(q.get("endTime", self.now_ms))
        rows = frame[(frame.funding_time >= start) & (frame.funding_time <= end)].head(limit)
        body = [
            {
                "symbol": r.symbol,
                "fundingRate": f"{r.funding_rate:.8f}",
                "fundingTime": int(r.funding_time),
                "markPrice": repr(r.mark_price),
            }
            for r in rows.itertuples()
        ]
        return Scripted(200, body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as Binance's servers do: a client's session reuses its connection
            # (headers and body go out in two writes: without TCP_NODELAY each reply on a
            # kept-alive connection would wait out the client's delayed ACK, 40 ms).
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                server.requests.append((self.command, parts.path, query))
                if server.delay:
                    time.sleep(server.delay)
                reply = server.route(self.command, parts.path, query)
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                pass

        return Handler
