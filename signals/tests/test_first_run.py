"""first_run replaces a champion this code cannot load (an older model format after an
upgrade), which would otherwise refuse every bar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlcore.tests.factories import model_version
from signals.management.commands.first_run import usable

pytestmark = pytest.mark.django_db


def test_a_champion_from_an_older_format_counts_as_missing(champion):
    assert usable(champion)
    manifest = Path(champion.artifact_path) / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(data | {"format_version": 1}))
    assert not usable(champion)
    assert not usable(None)
    gone = model_version(version="gone", status="retired", artifact_path="/nonexistent")
    assert not usable(gone)
