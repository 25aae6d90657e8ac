"""Models trained once per test session and handed to each test as fresh rows and files.

Training the quick BTC model or the quick universe model costs 10-30 s on 2 cores; most tests
only need one to exist. ``train_once`` trains inside a transaction that is rolled back, keeps
the rows the training wrote (runs, model versions, evaluations, backtests) as a ``loaddata``
fixture and the artifacts in a session directory; ``install`` then gives a test its own copy
of both: the rows loaded into its (rolled-back) database and the files copied under its own
``MODELS_DIR``, so a test that rewrites a model's files or rows touches nobody else's.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.core import serializers
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

PLACEHOLDER = "@@MODELS_DIR@@"


@dataclass(frozen=True)
class Trained:
    rows: str  # the serialized rows, artifact paths under PLACEHOLDER
    models: Path  # the session's copy of the artifacts (MODELS_DIR layout)


def train_once(root: Path, build: Callable[[], None]) -> Trained:
    """Run ``build`` (import data, train) once in a transaction rolled back after its rows are
        serialized. The caller unblocks database access (a session fixture), and the tests that use
    it are marked ``django_db``: pytest-django makes the test database only for a session that has
    one."""
    from mlcore.models import BacktestRun, Evaluation, ModelVersion, RiskModel, TrainingRun

    models = root / "models"
    with (
        override_settings(
            MODELS_DIR=models, REPORTS_DIR=root / "reports", MLFLOW_TRACKING_URI="", RANDOM_RUNS=20
        ),
        transaction.atomic(),
    ):
        build()
        rows = [
            *TrainingRun.objects.all(),
            *ModelVersion.everything.all(),
            *Evaluation.objects.all(),
            *BacktestRun.objects.all(),
            *RiskModel.objects.all(),
        ]
        text = serializers.serialize("json", rows).replace(str(models), PLACEHOLDER)
        transaction.set_rollback(True)
    return Trained(text, models)


def fixture_for(trained: Trained, models_dir: Path, scratch: Path) -> Path:
    """The trained files copied under ``models_dir`` and a ``loaddata`` file of the rows that
    point at them (for a test's database, or a server's through ``manage.py loaddata``)."""
    shutil.copytree(trained.models, models_dir, dirs_exist_ok=True)
    fixture = scratch / "trained_rows.json"
    fixture.write_text(trained.rows.replace(PLACEHOLDER, str(models_dir)))
    return fixture


def install(trained: Trained, models_dir: Path, scratch: Path) -> None:
    """The trained rows and files, as this test's own."""
    call_command("loaddata", str(fixture_for(trained, models_dir, scratch)), verbosity=0)
