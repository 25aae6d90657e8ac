"""One archive of the product: database, model artifacts and MLflow store (tradingai.backup).

    manage.py backup [--to DIR]      (default: $TRADINGAI_VAR_DIR/backups)

Prints the archive's path; the archive appears whole or not at all.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analysis.cli import step_bar
from tradingai.backup import BACKUP_STEPS, BackupError, backup


class Command(BaseCommand):
    help = "Back up the database, the model artifacts and the MLflow store into one archive."

    def add_arguments(self, parser):
        parser.add_argument("--to", type=Path, default=None, help="folder for the archive")

    def handle(self, *args, **o):
        target = o["to"] or Path(settings.VAR_DIR) / "backups"
        try:
            with step_bar("backup", BACKUP_STEPS, self.stderr) as step:
                archive = backup(target, step)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(str(archive))
