"""Real servers for the tests and benchmarks that need them, on free loopback ports: daphne
(ASGI: WebSockets, and everything in the embedded mode), gunicorn or granian (WSGI: production
HTTP), Celery workers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def production_only():
    """The mark of a test of the production path: it needs PostgreSQL and Redis (CI sets both)."""
    import os

    import pytest

    return pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
        reason="the production path needs DATABASE_URL and REDIS_URL (CI sets both)",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_daphne(env: dict[str, str], quiet: bool = False) -> tuple[subprocess.Popen, str]:
    """daphne serving the project with ``env``; returns once /api/system/health answers."""
    port = free_port()
    command = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tradingai.asgi:application"]
    return _serve(command, port, env, quiet, "daphne")


def start_gunicorn(
    env: dict[str, str], workers: int = 3, threads: int = 4, quiet: bool = False
) -> tuple[subprocess.Popen, str]:
    """gunicorn serving ``tradingai.wsgi`` as production does (threaded workers)."""
    port = free_port()
    command = ["-m", "gunicorn", "tradingai.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
               "--log-level", "warning"]  # fmt: skip
    return _serve(command, port, env, quiet, "gunicorn")


def start_granian(
    env: dict[str, str], workers: int = 2, threads: int = 4, quiet: bool = False
) -> tuple[subprocess.Popen, str]:
    """granian serving ``tradingai.wsgi`` (its Rust HTTP front, Python threads per worker)."""
    port = free_port()
    command = ["-m", "granian", "--interface", "wsgi", "tradingai.wsgi:application",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
               "--blocking-threads", str(threads), "--log-level", "warning"]  # fmt: skip
    return _serve(command, port, env, quiet, "granian")


def _serve(
    command: list[str], port: int, env: dict[str, str], quiet: bool, name: str
) -> tuple[subprocess.Popen, str]:
    """Start ``python <command>``; return once /api/system/health answers (a 503 is an answer)."""
    output = subprocess.DEVNULL if quiet else subprocess.PIPE
    server = subprocess.Popen(
        [sys.executable, *command], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            # (10 s: with the database unreachable, health answers after the pool's 3 s wait)
            urllib.request.urlopen(f"{url}/api/system/health", timeout=10)
            return server, url
        except urllib.error.HTTPError:
            return server, url
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"{name} exited before it answered") from None
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError(f"{name} did not answer within a minute")


def start_redis(port: int) -> subprocess.Popen:
    """A redis-server of its own on ``port`` (no persistence), so restarting it as a fault
    touches nothing else; returns once it answers."""
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout:
            return server
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def start_worker(env: dict[str, str], *options: str, quiet: bool = False) -> subprocess.Popen:
    """A Celery worker on both queues with ``env`` and extra ``options`` (pool, name, ...)."""
    output = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tradingai", "worker", "-Q", "cpu,gpu", *options],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )


def production_env(name: str, **overrides: str) -> dict[str, str]:
    """The environment a benchmark runs the production mode with: ``DATABASE_URL`` and
    ``REDIS_URL`` from the caller (or exit saying so), a database ``<database>_<name>`` of its
    own, no MLflow, no embedded scheduler, plain HTTP, quiet logs, a ``var/<name>`` folder."""
    import os

    url = os.environ.get("DATABASE_URL")
    if not url or not os.environ.get("REDIS_URL"):
        sys.exit("set DATABASE_URL and REDIS_URL: the benchmark measures the production mode")
    # A benchmark's own throwaway key when none is set (production refuses to start without).
    secret = os.environ.get("SECRET_KEY") or f"benchmark-{name}-only-" + "k" * 40
    return (
        dict(os.environ)
        | {
            "DATABASE_URL": f"{url}_{name}",
            "SECRET_KEY": secret,
            "MLFLOW_TRACKING_URI": "",
            "TRADINGAI_EMBEDDED_SCHEDULER": "0",
            "TRADINGAI_HTTPS": "0",
            "LOG_LEVEL": "WARNING",
            "TRADINGAI_VAR_DIR": str(ROOT / "var" / name),
        }
        | overrides
    )


def fresh_database(env: dict[str, str]) -> None:
    """Drop and create ``env``'s database, then migrate it."""
    import psycopg

    base, name = env["DATABASE_URL"].rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )


def shell_key(env: dict[str, str], script: str) -> str:
    """Run ``script`` with ``manage.py shell`` in ``env``; the API key it printed as ``KEY …``."""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v0", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return next(line for line in done.stdout.splitlines() if line.startswith("KEY ")).split()[1]


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
