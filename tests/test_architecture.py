"""The layering rules of ARCHITECTURE.md, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["analysis", "mlcore", "signals", "journal", "portfolio"]
# What each app may import of ours; arrows point down.
ALLOWED = {
    "analysis": {"analysis", "tradingai"},
    "mlcore": {"mlcore", "analysis", "tradingai"},
    "signals": {"signals", "mlcore", "analysis", "tradingai"},
    "journal": {"journal", "signals", "mlcore", "analysis", "tradingai"},
    "portfolio": {"portfolio", "analysis", "tradingai"},
}
OURS = {*APPS, "tradingai"}


def modules(app: str) -> list[Path]:
    return [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("app", APPS)
def test_apps_import_only_downwards(app):
    for path in modules(app):
        if "tests" in path.parts:
            continue
        for name in imported(path):
            top = name.split(".")[0]
            if top in OURS:
                assert top in ALLOWED[app], f"{path.relative_to(ROOT)} imports {name}"
            # tradingai is glue; of it an app may use only the API's error type, its envelope
            # and its auth callables (which mark an endpoint as a write or a read).
            if top == "tradingai" and app != "tradingai":
                allowed = {"tradingai.api_errors", "tradingai.auth", "tradingai.envelope"}
                assert name in allowed, f"{path.relative_to(ROOT)} imports {name}"


def test_pure_layers_import_no_django():
    pure = [
        ROOT / "analysis" / "indicators.py",
        ROOT / "analysis" / "regime.py",
        ROOT / "analysis" / "quality.py",
        ROOT / "analysis" / "dumps.py",
        ROOT / "analysis" / "intervals.py",
        *(ROOT / "mlcore" / "pipeline").rglob("*.py"),
        *(ROOT / "mlcore" / "backtest").rglob("*.py"),
    ]
    pure_ours = {"analysis.indicators", "analysis.regime", "analysis.quality", "analysis.intervals"}
    for path in (p for p in pure if p.exists()):
        for name in imported(path):
            assert name.split(".")[0] not in {"django", "ninja", "channels", "celery"}, path
            if name.split(".")[0] in OURS and not name.startswith(
                ("mlcore.pipeline", "mlcore.backtest")
            ):
                assert name in pure_ours, f"{path.relative_to(ROOT)} imports {name}"


def test_only_the_exchange_module_talks_to_binance():
    for app in [*APPS, "tradingai"]:
        for path in modules(app):
            if "tests" in path.parts:
                continue
            if any(n.split(".")[0] == "binance" for n in imported(path)):
                assert path == ROOT / "analysis" / "exchange.py", path
