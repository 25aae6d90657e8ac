"""docker-compose.yml stays valid and complete; no Docker engine runs here, so it is parsed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def test_compose_has_every_service_of_the_design():
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert set(services) == {
        "postgres",
        "redis",
        "web",
        "ws",
        "proxy",
        "worker-cpu",
        "worker-gpu",
        "beat",
        "mlflow",
    }
    # HTTP from the WSGI pool, WebSockets from daphne, one origin through the proxy.
    assert "granian --interface wsgi tradingai.wsgi:application" in services["web"]["command"]
    assert "daphne" in services["ws"]["command"] and "8001" in services["ws"]["command"]
    assert services["proxy"]["ports"] == ["8000:80"]
    mount = services["proxy"]["volumes"][0].split(":")[0]
    conf = (COMPOSE.parent / mount).read_text()
    assert "server web:8000" in conf and "server ws:8001" in conf
    assert "location ~ ^/(ws/|api/realtime/)" in conf and "proxy_set_header Upgrade" in conf
    # A host without a GPU starts: the GPU worker is behind a profile, and the CPU worker
    # serves the gpu queue unless told otherwise.
    assert services["worker-gpu"]["profiles"] == ["gpu"]
    assert "-Q ${WORKER_QUEUES:-cpu,gpu}" in services["worker-cpu"]["command"]
    assert "-Q gpu" in services["worker-gpu"]["command"]
    gpu = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    assert "beat" in services["beat"]["command"]
    for name in ("web", "ws", "worker-cpu", "worker-gpu", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith(
            "redis://"
        )


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="the docker compose plugin is not installed here",
)
def test_docker_compose_config_accepts_it():
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
