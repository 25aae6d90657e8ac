"""manage.py backup / restore: one archive brings the product back into a fresh database (row
counts and a model's predictions identical), and a corrupt, mismatched or unwanted restore is
refused before anything is touched."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from analysis.ingest import import_file
from analysis.tests.binance_replay import SHARED
from journal.models import Trade
from signals import inference
from tradingai.backup import table_counts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
STORED_BAR = datetime(2024, 5, 14, 7, tzinfo=UTC)  # predicted before the backup
LATER_BAR = datetime(2024, 5, 14, 9, tzinfo=UTC)  # predicted after, on both sides
PREDICT = """
import json, sqlite3
from datetime import datetime, UTC
from django.conf import settings
from signals import inference
from tradingai.backup import table_counts
counts = table_counts()
s = inference.infer("BTCUSDT", "1h", datetime(2024, 5, 14, 9, tzinfo=UTC)).signal
store = sqlite3.connect(settings.MLFLOW_TRACKING_URI.removeprefix("sqlite:///"))
runs = [r[0] for r in store.execute("SELECT run_uuid FROM runs")]
artifact = open(settings.MLFLOW_ARTIFACT_ROOT + "/0/report.json").read()
call = [s.direction, s.grade, s.confidence]
print("RESULT", json.dumps({"counts": counts, "call": call, "runs": runs, "artifact": artifact}))
"""

COUNTS = """
import json
from tradingai.backup import table_counts
print("RESULT", json.dumps(table_counts()))
"""


@pytest.fixture
def product(settings, tmp_path) -> dict:
    """Market data, a trained universe champion with its artifacts, a signal and a trade."""
    settings.MODELS_DIR = tmp_path / "models"
    settings.REPORTS_DIR = tmp_path / "reports"
    settings.MLFLOW_TRACKING_URI = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings.MLFLOW_ARTIFACT_ROOT = str(tmp_path / "mlartifacts")
    for symbol in ("BTCUSDT", "ETHUSDT"):
        import_file(SHARED / f"binance_futures_{symbol}_1h.csv.gz")
        import_file(SHARED / f"binance_futures_{symbol}_funding.csv.gz")
    call_command(
        "train_all", "--pooled", "--quick", "--force", "--symbols", "BTCUSDT,ETHUSDT",
        stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip
    # The MLflow store as the tracking module leaves it: a SQLite file and an artifact tree
    # (the quick universe training logs no run, so one is written here).
    with sqlite3.connect(tmp_path / "mlflow.db") as store:
        store.execute("CREATE TABLE runs (run_uuid TEXT)")
        store.execute("INSERT INTO runs VALUES ('run-kept-through-a-restore')")
    (tmp_path / "mlartifacts" / "0").mkdir(parents=True)
    (tmp_path / "mlartifacts" / "0" / "report.json").write_text('{"kept": true}')
    signal = inference.infer("BTCUSDT", "1h", STORED_BAR).signal
    Trade.objects.create(
        ticker="BTCUSDT", action="skipped", signal=signal, notes="kept through a restore"
    )
    return {"signal": signal}


def _restored_env(tmp_path: Path) -> dict[str, str]:
    """A fresh product beside this one: its own database, var folder, models and MLflow."""
    var = tmp_path / "restored"
    env = os.environ | {
        "TRADINGAI_VAR_DIR": str(var),
        "TRADINGAI_MODELS_DIR": str(var / "models"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{var / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_ROOT": str(var / "mlartifacts"),
        "TRADINGAI_EMBEDDED_SCHEDULER": "0",
        "LOG_LEVEL": "WARNING",
    }
    if connection.vendor == "postgresql":
        import psycopg

        name = f"{settings.DATABASES['default']['NAME']}_restored"
        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = f"{base}/{name}"
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_a_backup_restores_into_a_fresh_database_as_the_same_product(product, tmp_path):
    out = io.StringIO()
    call_command("backup", "--to", str(tmp_path / "backups"), stdout=out, stderr=io.StringIO())
    archive = Path(out.getvalue().strip())
    assert archive.is_file() and archive.name.startswith("tradingai-")
    before = table_counts()
    assert before["signals_signal"] == 1 and before["journal_trade"] == 1
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert manifest["counts"] == before
    assert any(n.startswith("models/") for n in names) and "mlflow/mlflow.db" in names
    # The same prediction of a later bar, here and in the restored product.
    here = inference.infer("BTCUSDT", "1h", LATER_BAR).signal

    env = _restored_env(tmp_path)
    restored = _manage(env, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert f"{sum(before.values())} rows" in restored.stdout
    shown = _manage(env, "shell", "-c", PREDICT)
    assert shown.returncode == 0, shown.stderr
    result = json.loads(shown.stdout.split("RESULT ", 1)[1])
    assert result["counts"] == before
    assert (
        result["runs"] == ["run-kept-through-a-restore"] and result["artifact"] == '{"kept": true}'
    )
    assert result["call"][:2] == [here.direction, here.grade]
    assert result["call"][2] == pytest.approx(here.confidence, abs=1e-9)
    # A second restore over the now-filled database needs --replace, which puts the archive's
    # rows back exactly (the later signal predicted there is gone again).
    again = _manage(env, "restore", str(archive))
    assert again.returncode != 0 and "--replace" in again.stderr
    moved = json.loads(_manage(env, "shell", "-c", COUNTS).stdout.split("RESULT ", 1)[1])
    assert moved["signals_signal"] == before["signals_signal"] + 1  # the later bar's signal
    replaced = _manage(env, "restore", "--replace", str(archive))
    assert replaced.returncode == 0, replaced.stderr
    counted = _manage(env, "shell", "-c", COUNTS)
    assert json.loads(counted.stdout.split("RESULT ", 1)[1]) == before


def test_a_corrupt_or_mismatched_archive_is_refused_and_nothing_is_touched(product, tmp_path):
    out = io.StringIO()
    call_command("backup", "--to", str(tmp_path), stdout=out, stderr=io.StringIO())
    archive = Path(out.getvalue().strip())
    before = table_counts()
    models = sorted(p for p in settings.MODELS_DIR.rglob("*") if p.is_file())

    # One flipped byte inside a member's data.
    corrupt = tmp_path / "corrupt.tar"
    data = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.startswith("models/") and m.size > 64)
    data[member.offset_data + 10] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    # A manifest naming a migration this code does not have (an archive from a newer version).
    newer = tmp_path / "newer.tar"
    with tarfile.open(archive) as src, tarfile.open(newer, "w") as dst:
        for m in src.getmembers():
            payload = src.extractfile(m).read()
            if m.name == "manifest.json":
                manifest = json.loads(payload)
                manifest["migrations"]["journal"].append("9999_from_the_future")
                payload = json.dumps(manifest).encode()
                m.size = len(payload)
            dst.addfile(m, io.BytesIO(payload))
    not_a_backup = tmp_path / "notes.tar"
    not_a_backup.write_bytes(b"just some bytes")

    for bad, reason in [
        (corrupt, "does not match its checksum"),
        (newer, "from a newer version"),
        (not_a_backup, "not a Trading AI backup"),
        (archive, "already holds data"),  # sound, but the database is not empty
    ]:
        with pytest.raises(CommandError, match=reason):
            call_command("restore", str(bad), stdout=io.StringIO(), stderr=io.StringIO())
    assert table_counts() == before
    assert sorted(p for p in settings.MODELS_DIR.rglob("*") if p.is_file()) == models
