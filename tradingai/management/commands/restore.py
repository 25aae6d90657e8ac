"""Bring back a ``manage.py backup`` archive (tradingai.backup).

    manage.py restore ARCHIVE [--replace]

The archive is checked whole first (checksums, members, engine, migrations): a corrupt or
mismatched one is refused and nothing is touched. A database that holds data is refused unless
``--replace``. Restart the servers and workers afterwards: they hold the old models in memory.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.cli import step_bar
from tradingai.backup import RESTORE_STEPS, BackupError, restore


class Command(BaseCommand):
    help = "Restore a backup archive (database, model artifacts, MLflow store)."

    def add_arguments(self, parser):
        parser.add_argument("archive", type=Path)
        parser.add_argument(
            "--replace", action="store_true", help="overwrite a database that holds data"
        )

    def handle(self, *args, **o):
        if not o["archive"].is_file():
            raise CommandError(f"{o['archive']}: no such file")
        try:
            with step_bar("restore", RESTORE_STEPS, self.stderr) as step:
                done = restore(o["archive"], replace=o["replace"], step=step)
        except BackupError as exc:
            raise CommandError(f"not restored: {exc}") from None
        _forget_cached_pages()
        self.stdout.write(
            f"restored {done.engine}: {done.tables} tables, {done.rows} rows, {done.files} files"
        )


def _forget_cached_pages() -> None:
    """Cached signal pages and latest-signal ids describe the database before the restore."""
    from django.core.cache import cache

    from analysis import universe
    from signals import inference, listing

    listing.bump()
    cache.delete_many([inference.latest_key(s, i) for s, i in universe.series()])
