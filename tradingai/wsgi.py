"""WSGI entry point: the production HTTP server (pages, API, admin, static) as a process pool
(granian, see ``docker-compose.yml``; gunicorn serves it as well). WebSockets stay on daphne
(``tradingai.asgi``); a page served here still reaches every open socket, since pushes go
through the Redis channel layer. Measured (``benchmarks/api_load.py``): the single ASGI process
was the API's floor."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingai.settings")
application = get_wsgi_application()

from tradingai.startup import on_server_start  # noqa: E402  (needs Django set up first)

on_server_start()
