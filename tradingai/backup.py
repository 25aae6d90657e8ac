"""One archive that brings the product back: the database, the model artifacts and the MLflow
store, with a manifest of checksums, and its restore.

An archive is a plain tar (the database dump is already compressed):
- ``manifest.json``: format, creation time, database engine, the migrations applied, the row
  count of every table, and each member's size and SHA-256;
- ``database.pgdump`` (``pg_dump --format=custom``) or ``database.sqlite3`` (SQLite's online
  backup: consistent while the server writes);
- ``models/...`` (``settings.MODELS_DIR``), ``mlflow/mlflow.db`` and ``mlflow/artifacts/...``
  when MLflow's store is local (an MLflow *server* keeps its own store: the manifest says so).

``restore`` checks the whole archive before it touches anything: every member listed and
matching its checksum, nothing extra, the same database engine, no migration this code does not
know. Then it loads the database, swaps the artifact folders in whole, and checks the row counts
against the manifest. It refuses a database that already holds data unless told to replace it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader

FORMAT = 1
MANIFEST = "manifest.json"
Step = Callable[[str], None]
# The steps each reports as it starts one (the commands' progress bars show them).
BACKUP_STEPS = ("database", "model artifacts", "MLflow store", "checksums", "archive")
RESTORE_STEPS = (
    "checking the archive",
    "database",
    "model artifacts",
    "MLflow store",
    "checking row counts",
)


class BackupError(Exception):
    """A backup that cannot be made, or an archive that must not be restored; says why."""


@dataclass(frozen=True)
class Restored:
    engine: str
    tables: int
    rows: int
    files: int


def _engine() -> str:
    return "sqlite" if connection.vendor == "sqlite" else "postgresql"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pg_env() -> dict[str, str]:
    """libpq's variables for the configured database: no password on a command line."""
    db = settings.DATABASES["default"]
    values = {
        "PGHOST": db.get("HOST") or "",
        "PGPORT": str(db.get("PORT") or ""),
        "PGUSER": db.get("USER") or "",
        "PGPASSWORD": db.get("PASSWORD") or "",
        "PGDATABASE": db["NAME"],
    }
    return os.environ | {k: v for k, v in values.items() if v}


def _run(command: list[str]) -> None:
    done = subprocess.run(command, env=_pg_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")


def table_counts() -> dict[str, int]:
    """Rows of every table the installed apps own (the manifest's and restore's yardstick)."""
    tables = sorted(
        {m._meta.db_table for m in apps.get_models(include_auto_created=True)}
        & set(connection.introspection.table_names())
    )
    counts = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def _applied_migrations() -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in sorted(MigrationLoader(connection).applied_migrations):
        applied.setdefault(app, []).append(name)
    return applied


def _mlflow_sources() -> tuple[Path | None, Path | None, str]:
    uri = settings.MLFLOW_TRACKING_URI or ""
    if not uri:
        return None, None, "MLflow tracking is off"
    if not uri.startswith("sqlite:///"):
        return None, None, f"MLflow is a server ({uri.split('@')[-1]}): back up its own store"
    store = Path(uri.removeprefix("sqlite:///"))
    artifacts = Path(settings.MLFLOW_ARTIFACT_ROOT)
    return (store if store.exists() else None), (artifacts if artifacts.is_dir() else None), ""


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while others write."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def backup(target_dir: Path, step: Step = lambda _: None) -> Path:
    """Write ``tradingai-<UTC time>.tar`` into ``target_dir``; returns its path. The archive
    appears whole or not at all (written beside, then renamed)."""
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    archive = target_dir / f"tradingai-{stamp}.tar"
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".backup-") as scratch:
        staging = Path(scratch) / "archive"
        staging.mkdir()
        engine = _engine()
        step("database")
        if engine == "postgresql":
            _run(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--file",
                    str(staging / "database.pgdump"),
                ]
            )
        else:
            connection.ensure_connection()  # its own connection: a file or an in-memory one
            with sqlite3.connect(staging / "database.sqlite3") as copy:
                connection.connection.backup(copy)
        counts = table_counts()  # after the dump: a row added since is not promised back
        step("model artifacts")
        models_dir = Path(settings.MODELS_DIR)
        if models_dir.is_dir():
            shutil.copytree(models_dir, staging / "models", symlinks=False)
        step("MLflow store")
        store, artifacts, mlflow_note = _mlflow_sources()
        if store:
            (staging / "mlflow").mkdir()
            _sqlite_copy(store, staging / "mlflow" / "mlflow.db")
        if artifacts:
            shutil.copytree(artifacts, staging / "mlflow" / "artifacts")
        step("checksums")
        files = {
            p.relative_to(staging).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        }
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "engine": engine,
            "migrations": _applied_migrations(),
            "counts": counts,
            "mlflow": mlflow_note or "included",
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        step("archive")
        partial = Path(scratch) / archive.name
        with tarfile.open(partial, "w") as tar:
            tar.add(staging / MANIFEST, arcname=MANIFEST)
            for name in files:
                tar.add(staging / name, arcname=name)
        partial.replace(archive)
    return archive


def read_manifest(archive: Path) -> dict:
    try:
        with tarfile.open(archive, "r") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            return json.loads(member.read())
    except (tarfile.TarError, KeyError, json.JSONDecodeError, OSError) as exc:
        raise BackupError(f"{archive}: not a Trading AI backup ({exc})") from None


def verify(archive: Path, into: Path) -> dict:
    """Unpack ``archive`` into ``into`` and check it whole; returns its manifest. Refuses (with
    the reason) a corrupt, incomplete or padded archive, and one this code cannot restore."""
    manifest = read_manifest(archive)
    if manifest.get("format") != FORMAT:
        raise BackupError(f"archive format {manifest.get('format')!r}; this code reads {FORMAT}")
    if manifest.get("engine") != _engine():
        raise BackupError(
            f"the archive holds a {manifest.get('engine')} database; this product runs on "
            f"{_engine()} (set DATABASE_URL to match)"
        )
    known = {(app, name) for app, name in MigrationLoader(connection).disk_migrations}
    unknown = [
        f"{app}.{name}"
        for app, names in manifest.get("migrations", {}).items()
        for name in names
        if (app, name) not in known
    ]
    if unknown:
        raise BackupError(
            f"the archive is from a newer version (migrations {', '.join(unknown[:5])})"
        )
    files: dict = manifest.get("files", {})
    try:
        with tarfile.open(archive, "r") as tar:
            names = {m.name for m in tar.getmembers() if m.isfile()} - {MANIFEST}
            if names != set(files):
                extra, missing = sorted(names - set(files)), sorted(set(files) - names)
                raise BackupError(
                    f"archive members differ from its manifest: extra {extra[:3]}, "
                    f"missing {missing[:3]}"
                )
            tar.extractall(into, filter="data")  # no absolute paths, links out or devices
    except tarfile.TarError as exc:
        raise BackupError(f"{archive}: corrupt archive ({exc})") from None
    for name, expected in files.items():
        path = into / name
        if path.stat().st_size != expected["bytes"] or _sha256(path) != expected["sha256"]:
            raise BackupError(f"{name} does not match its checksum: the archive is corrupt")
    return manifest


def _database_holds_data() -> bool:
    return any(count for table, count in table_counts().items() if table != "django_migrations")


def _swap_dir(source: Path | None, target: Path) -> None:
    """Put ``source``'s tree at ``target`` in one rename (the old tree kept until it is in)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(f".{target.name}.incoming")
    shutil.rmtree(incoming, ignore_errors=True)
    if source is not None:
        shutil.copytree(source, incoming)
    else:
        incoming.mkdir()
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.replace(old)
    incoming.replace(target)
    shutil.rmtree(old, ignore_errors=True)


def restore(archive: Path, *, replace: bool = False, step: Step = lambda _: None) -> Restored:
    """Bring back the archive's database, model artifacts and MLflow store, checked whole first
    (``verify``). A database that holds data is refused unless ``replace``."""
    with tempfile.TemporaryDirectory(prefix="tradingai-restore-") as scratch:
        unpacked = Path(scratch)
        step("checking the archive")
        manifest = verify(archive, unpacked)
        if not replace and _database_holds_data():
            raise BackupError(
                "the database already holds data: restore with --replace to overwrite it"
            )
        step("database")
        if manifest["engine"] == "postgresql":
            connection.close()
            _run([
                "pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
                "--exit-on-error", "--dbname", settings.DATABASES["default"]["NAME"],
                str(unpacked / "database.pgdump"),
            ])  # fmt: skip
        else:
            connection.close()
            target = Path(settings.DATABASES["default"]["NAME"])
            incoming = target.with_name(f".{target.name}.incoming")
            shutil.copyfile(unpacked / "database.sqlite3", incoming)
            for suffix in ("-wal", "-shm"):  # the old log must not replay onto the new file
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            incoming.replace(target)
        step("model artifacts")
        models = unpacked / "models"
        _swap_dir(models if models.is_dir() else None, Path(settings.MODELS_DIR))
        step("MLflow store")
        store, artifacts = unpacked / "mlflow" / "mlflow.db", unpacked / "mlflow" / "artifacts"
        uri = settings.MLFLOW_TRACKING_URI or ""
        if store.exists() and uri.startswith("sqlite:///"):
            target = Path(uri.removeprefix("sqlite:///"))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(store, target.with_name(f".{target.name}.incoming"))
            target.with_name(f".{target.name}.incoming").replace(target)
        if artifacts.is_dir():
            _swap_dir(artifacts, Path(settings.MLFLOW_ARTIFACT_ROOT))
        step("checking row counts")
        counts = table_counts()
        differ = {
            t: (n, counts.get(t)) for t, n in manifest["counts"].items() if counts.get(t) != n
        }
        if differ:
            raise BackupError(f"restored row counts differ from the archive's: {differ}")
        return Restored(
            engine=manifest["engine"],
            tables=len(counts),
            rows=sum(counts.values()),
            files=len(manifest["files"]),
        )
