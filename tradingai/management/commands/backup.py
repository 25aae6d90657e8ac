"""One archive of the product: database, model artifacts and MLflow store (tradingai.backup).

    manage.py backup [--to DIR]      (default: $TRADINGAI_VAR_DIR/backups)

Prints the archive's path; the archive appears whole or not at all.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from tradingai.backup import BackupError, backup

STEPS = ["database", "model artifacts", "MLflow store", "checksums", "archive"]


class Command(BaseCommand):
    help = "Back up the database, the model artifacts and the MLflow store into one archive."

    def add_arguments(self, parser):
        parser.add_argument("--to", type=Path, default=None, help="folder for the archive")

    def handle(self, *args, **o):
        target = o["to"] or Path(settings.VAR_DIR) / "backups"
        with tqdm(total=len(STEPS), desc="backup", unit="step", file=self.stderr) as bar:

            def step(name: str) -> None:
                bar.set_postfix_str(name)
                bar.n = STEPS.index(name)
                bar.refresh()

            try:
                archive = backup(target, step)
            except BackupError as exc:
                raise CommandError(str(exc)) from None
            bar.n = len(STEPS)
            bar.refresh()
        self.stdout.write(str(archive))
