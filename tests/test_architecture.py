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
    """Absolute names of what the module imports, relative imports resolved (``from .x import
    y`` in analysis/views.py is ``analysis.x``)."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.add(node.module or "")
                continue
            base = list(package[: len(package) - (node.level - 1)])
            targets = [node.module] if node.module else [a.name for a in node.names]
            names |= {".".join([*base, t]) for t in targets}
    return names


def test_relative_imports_are_seen():
    sample = ROOT / "analysis" / "_relative_import_probe.py"
    sample.write_text("from .models import Candle\nfrom . import store\nfrom ..mlcore import x\n")
    try:
        assert imported(sample) >= {"analysis.models", "analysis.store", "mlcore"}
    finally:
        sample.unlink()


@pytest.mark.parametrize("app", APPS)
def test_apps_import_only_downwards(app):
    for path in modules(app):
        if "tests" in path.parts:
            continue
        for name in imported(path):
            top = name.split(".")[0]
            if top in OURS:
                assert top in ALLOWED[app], f"{path.relative_to(ROOT)} imports {name}"
            # tradingai is glue; of it an app may use only the API's error type, its envelope,
            # its auth callables (which mark an endpoint as a write or a read) and the tasks'
            # retry policy.
            if top == "tradingai" and app != "tradingai":
                allowed = {
                    "tradingai.api_errors",
                    "tradingai.auth",
                    "tradingai.envelope",
                    "tradingai.retries",
                }
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
    missing = [p for p in pure if not p.exists()]
    assert not missing, f"listed as pure but gone (update the list): {missing}"
    for path in pure:
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


def _string_targets() -> list[str]:
    """Modules and objects our code names in strings, where no import statement shows them:
    the API's routers, Celery's routes and the beat schedule's tasks."""
    targets = []
    api = ast.parse((ROOT / "tradingai" / "api.py").read_text())
    for node in ast.walk(api):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_router":
            targets.append(node.args[1].value)
    from django.conf import settings

    from tradingai.celery import app

    targets += [route.rstrip("*") for route in app.conf.task_routes]
    targets += [entry["task"] for entry in settings.BEAT_SCHEDULE.values()]
    return targets


def test_modules_named_in_strings_exist_and_follow_the_layers():
    import importlib

    targets = _string_targets()
    assert len(targets) >= 10 and "analysis.api.router" in targets
    for target in targets:
        module, _, name = target.rpartition(".")
        loaded = importlib.import_module(module)
        if name:  # a route may name a prefix of task names ("mlcore.tasks.train*")
            assert any(attr.startswith(name) for attr in dir(loaded)), target
        assert module.split(".")[0] in OURS, target
