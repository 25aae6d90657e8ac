"""docker-compose.yml stays valid and complete; no Docker engine runs here, so it is parsed."""

from __future__ import annotations

import re
from pathlib import Path

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
    # The GPU worker's image carries torch's CUDA build; every other app image the CPU build.
    assert services["worker-gpu"]["build"]["args"]["TORCH_INDEX"].endswith(("cu128", "cu126"))
    for name in ("web", "ws", "worker-cpu", "beat"):
        assert services[name]["build"]["args"]["TORCH_INDEX"].endswith("/whl/cpu"), name
        assert services[name]["image"] != services["worker-gpu"]["image"]
    # Compose interpolates ${...} from the host before Docker sees the Dockerfile: the build
    # argument must be escaped ($$) to reach Docker as ${TORCH_INDEX}.
    dockerfile = services["web"]["build"]["dockerfile_inline"]
    assert "--index-url $${TORCH_INDEX}" in dockerfile
    assert not re.search(r"(?<!\$)\$\{", dockerfile)
    assert "beat" in services["beat"]["command"]
    for name in ("web", "ws", "worker-cpu", "worker-gpu", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith(
            "redis://"
        )


# What the Compose Specification allows a service to say (the keys this file may use), and the
# shape of what it says; a typo'd key or a dangling reference fails here, as `docker compose
# config` would fail it (no Docker engine runs where the suite runs).
SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "volumes", "ports",
    "expose", "depends_on", "restart", "healthcheck", "profiles", "deploy", "working_dir",
    "user", "labels", "networks", "stop_grace_period", "stop_signal", "init", "shm_size",
}  # fmt: skip
RESTART = {"no", "always", "on-failure", "unless-stopped"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


def test_compose_file_follows_the_compose_specification():
    text = COMPOSE.read_text()
    # Every ${...} is a valid interpolation (a stray "$" must be written "$$").
    for match in re.finditer(r"\$\{[^}]*\}", text):
        assert INTERPOLATION.fullmatch(match.group()), match.group()
    spec = yaml.safe_load(text)
    assert set(spec) <= {"name", "services", "volumes", "networks", "configs", "secrets"} | {
        k for k in spec if k.startswith("x-")
    }
    services, volumes = spec["services"], set(spec.get("volumes") or {})
    for name, service in services.items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
        assert "image" in service or "build" in service, name
        assert service.get("restart", "no") in RESTART, name
        depends = service.get("depends_on", {})
        for other, how in depends.items() if isinstance(depends, dict) else []:
            assert other in services and how["condition"] in CONDITIONS, (name, other)
        for other in depends if isinstance(depends, list) else []:
            assert other in services, (name, other)
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name} mounts undeclared volume {source}"
            else:
                assert (COMPOSE.parent / source).exists(), f"{name} mounts missing {source}"
        for port in service.get("ports", []):
            assert re.fullmatch(r"(\d+:)?\d+", str(port)), (name, port)
        env = service.get("environment", {})
        assert isinstance(env, dict) and all(isinstance(v, str | int) for v in env.values())
        if "healthcheck" in service:
            assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_the_proxy_hands_the_pool_whole_requests_and_the_client_s_address():
    """Defect 7 of the second review: 8 sockets trickling a body stalled bare granian. The pool
    sits behind nginx, which buffers bodies with a read timeout and says who the client is;
    the app trusts that header from the compose networks only, one hop deep."""
    conf = (COMPOSE.parent / "deploy" / "nginx.conf").read_text()
    assert re.search(r"^\s*client_body_timeout\s+\d+s;", conf, re.M)
    assert re.search(r"^\s*proxy_request_buffering\s+on;", conf, re.M)
    assert conf.count("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;") == 2
    env = yaml.safe_load(COMPOSE.read_text())["services"]["web"]["environment"]
    assert env["TRADINGAI_PROXY_HOPS"].endswith(":-1}")
    assert "TRADINGAI_TRUSTED_PROXIES" in env
