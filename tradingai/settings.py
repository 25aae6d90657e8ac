"""Trading AI settings: one module, driven by environment variables.

With no variables set the project runs embedded: SQLite under ``var/``, an in-memory channel
layer, Celery tasks executed in-process and an in-process scheduler firing the beat schedule.
Setting ``DATABASE_URL`` and ``REDIS_URL`` switches to production: PostgreSQL, a Redis broker,
result backend, cache and channel layer. Every variable is listed in ``.env.example``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from analysis.symbols import normalise  # pure: no Django, safe to import from settings

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


VAR_DIR = Path(env("TRADINGAI_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DATABASE_URL = env("DATABASE_URL")
REDIS_URL = env("REDIS_URL")
# Production is whatever runs against external servers; the embedded mode needs none.
EMBEDDED = not DATABASE_URL


def _secret_key() -> str:
    """SECRET_KEY from env; the embedded mode keeps a generated one under var/ instead.

    Production refuses to start without one: a key generated into a volume would sign sessions
    that a second host (or a lost volume) silently invalidates, and hides that none was set."""
    key = env("SECRET_KEY")
    if key:
        return key
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set in production (DATABASE_URL is set). Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("TRADINGAI_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "channels",
    "ninja",  # its bundled Swagger UI: /api/docs works offline (no CDN)
    "django_celery_beat",
    "axes",  # sign-in throttling: lockout by user and address
    "tradingai",  # glue only: it hosts the operations commands (healthcheck)
    "analysis",
    "mlcore",
    "signals",
    "journal",
    "portfolio",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "tradingai.headers.ApiResponseMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tradingai.input_guard.InputGuardMiddleware",  # before anything reads the input (sessions)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "tradingai.ratelimit.RateLimitMiddleware",
    "tradingai.metrics.MetricsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

# Content-Security-Policy (django-csp): the pages load only their own scripts (there are no
# inline ones) and talk only to their own origin (the API, the WebSockets). Inline *styles* are
# allowed: bars and legends are sized by style attributes, and htmx adds its indicator style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "tradingai.urls"
WSGI_APPLICATION = "tradingai.wsgi.application"
ASGI_APPLICATION = "tradingai.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if DATABASE_URL:
    # Health checks: a connection is checked as it leaves the pool (a round trip, ~0.1 ms), so
    # one that a PostgreSQL restart broke is replaced instead of failing a request or a task.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_health_checks=True)}
    # A pool per process instead of persistent connections: under daphne each request's sync
    # code runs on a thread of its own, and a connection kept per thread outlives its thread,
    # so 50 concurrent requests exhausted PostgreSQL's connections (found by the API load
    # benchmark). The pool bounds them and still saves a connect per request. A request waits
    # at most 3 s for a connection: with PostgreSQL down, health answers "unhealthy" in that
    # time instead of hanging past a load balancer's probe (found by benchmarks/soak.py).
    DATABASES["default"]["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": env_int("TRADINGAI_DB_POOL_SIZE", 10),
            "timeout": 3,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # WAL lets the server read while an import writes; the timeout rides out the writer.
            "OPTIONS": {
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    # django-redis: one client per server, reused (Django's own backend builds a redis.Redis per
    # call, 0.18 ms each), and with IGNORE_EXCEPTIONS a dead Redis costs speed, not answers:
    # everything cached can be rebuilt from the database (signal pages, the latest signal,
    # analysis), so a read misses and a write is dropped, each logged; health says Redis is down.
    # The short timeouts keep a hung Redis from holding a request for long.
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    DJANGO_REDIS_LOGGER = "tradingai.cache"
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, the length of the layer's
            # own blocking pop: every idle WebSocket would die after 5 s (channels_redis #422).
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# A page must not 500 because collectstatic has not run yet (tests, a fresh checkout).
WHITENOISE_MANIFEST_STRICT = False
# Sign-in (the trader's and the admin's): django-axes locks a user at an address out after
# AXES_FAILURE_LIMIT failed attempts, for AXES_COOLOFF_MINUTES; Django's validators refuse weak
# passwords wherever one is set (createsuperuser, the admin, changepassword).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
# Behind a proxy (deploy/nginx.conf), the client's address comes from X-Forwarded-For, trusted
# only from these proxy addresses or networks and only this many proxies deep
# (tradingai/client_ip.py). 0 hops: no proxy, REMOTE_ADDR is the client, the header is ignored.
PROXY_HOPS = env_int("TRADINGAI_PROXY_HOPS", 0)
# Mail (password resets) only where a server is named; unset, the reset pages do not exist.
EMAIL_HOST = env("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "tradingai@localhost")
TRUSTED_PROXIES = env_list("TRADINGAI_TRUSTED_PROXIES", "127.0.0.1,::1")
AXES_CLIENT_IP_CALLABLE = "tradingai.client_ip.client_ip"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

# Messages live in the session, server-side: the admin shows a new API key's secret once as a
# message, and the default storage would carry it to the browser in a plain cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Security: strict by default outside DEBUG; TRADINGAI_HTTPS=0 for plain-HTTP local serving.
HTTPS = env_bool("TRADINGAI_HTTPS", not EMBEDDED and not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Celery: production uses Redis; embedded runs every task in-process, synchronously.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ACKS_LATE = True
# A task a worker took but did not acknowledge (it died, or is still running) goes back to the
# queue once it dies (reject_on_worker_lost) or after the visibility timeout: above the longest
# training, so a long run is not handed to a second worker while the first still trains (the
# training task also claims its run, so a second delivery of the same run does nothing).
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A queued or running training older than this is taken as abandoned (its worker died).
TRAINING_STALE_HOURS = env_int("TRADINGAI_TRAINING_STALE_HOURS", 6)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": TRAINING_STALE_HOURS * 3600 + 3600}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = CELERY_BROKER_TRANSPORT_OPTIONS
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database around every task unless told to reuse it, and in a
# prefork worker with a pool it closes the whole pool: a new PostgreSQL connection per task.
# Reuse it; tradingai.celery hands the connection back to the pool after each task instead.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_TIMEZONE = "UTC"
# A live round's series (every symbol closing the same bar) are inferred in this many tasks:
# the CPU worker's processes (its --concurrency), so both cores work and each task predicts a
# universe model's share of the series together (one context read, one members call, one commit).
INFERENCE_TASKS_PER_ROUND = env_int("TRADINGAI_INFERENCE_TASKS_PER_ROUND", 2)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# The beat schedule as data: task name and a cron expression, each overridable from env
# (TRADINGAI_SCHEDULE_<NAME>="m h dom mon dow", or "off"). tradingai.celery turns these into
# Celery entries that expire before their next run.
BEAT_SCHEDULE = {
    "fetch-latest": {
        "task": "analysis.tasks.fetch_latest",
        "cron": env("TRADINGAI_SCHEDULE_FETCH_LATEST", "1 * * * *"),
    },
    "check-drift": {
        "task": "mlcore.tasks.check_drift",
        "cron": env("TRADINGAI_SCHEDULE_CHECK_DRIFT", "20 0 * * *"),
    },
    "healthcheck": {
        "task": "tradingai.tasks.healthcheck",
        "cron": env("TRADINGAI_SCHEDULE_HEALTHCHECK", "5 6 * * *"),
    },
    "retrain-symbols": {
        "task": "mlcore.tasks.retrain_symbols",
        "cron": env("TRADINGAI_SCHEDULE_RETRAIN_SYMBOLS", "40 1 * * 0"),
    },
    "retrain-universe": {
        "task": "mlcore.tasks.retrain_universe",
        "cron": env("TRADINGAI_SCHEDULE_RETRAIN_UNIVERSE", "10 3 * * 0"),
    },
}
# The in-process scheduler that fires BEAT_SCHEDULE in the embedded mode (off in tests).
EMBEDDED_SCHEDULER = env_bool("TRADINGAI_EMBEDDED_SCHEDULER", EMBEDDED)

# --- API: reads open on the embedded default (loopback), keys required in production.
API_AUTH = env("TRADINGAI_API_AUTH", "open" if EMBEDDED else "required")
API_RATE_LIMIT = env_int("TRADINGAI_API_RATE_LIMIT", 600)  # requests a minute per key/address

# --- Market data
# Read in Binance's spelling whatever the file says (BTC-USD is BTCUSDT, see analysis.symbols).
SYMBOLS = [normalise(s) for s in env_list("TRADINGAI_SYMBOLS", "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT")]
INTERVALS = env_list("TRADINGAI_INTERVALS", "1h")
BINANCE_BASE_URL = env("BINANCE_BASE_URL", "https://fapi.binance.com")
BINANCE_SPOT_BASE_URL = env("BINANCE_SPOT_BASE_URL", "https://api.binance.com")


def env_secret(name: str) -> str:
    """``NAME`` from env, or the contents of the file ``NAME_FILE`` names (Docker secrets)."""
    path = env(f"{name}_FILE")
    return Path(path).read_text().strip() if path else env(name)


BINANCE_API_KEY = env_secret("BINANCE_API_KEY")
BINANCE_API_SECRET = env_secret("BINANCE_API_SECRET")
# A key that can trade, transfer or withdraw is refused unless this says otherwise.
ALLOW_TRADE_ENABLED_KEY = env_bool("TRADINGAI_ALLOW_TRADE_ENABLED_KEY", False)
BINANCE_TIMEOUT = float(env("BINANCE_TIMEOUT", "10"))
BINANCE_MAX_RETRIES = env_int("BINANCE_MAX_RETRIES", 5)
# How far back a first fetch reaches when no candle is stored yet and no --since is given.
HISTORY_DAYS = env_int("TRADINGAI_HISTORY_DAYS", 365)
# A symbol's data is fresh while its last closed candle is at most this many intervals old.
FRESHNESS_INTERVALS = env_int("TRADINGAI_FRESHNESS_INTERVALS", 2)


def _default_data_dir() -> str:
    shared = BASE_DIR.parent / "shared" / "data"
    return str(shared) if shared.is_dir() else ""


DATA_DIR = env("TRADINGAI_DATA_DIR", _default_data_dir())
REPORTS_DIR = VAR_DIR / "reports"

# --- ML engine
# Trained model versions: one directory each, written atomically (mlcore.artifacts).
MODELS_DIR = Path(env("TRADINGAI_MODELS_DIR", str(VAR_DIR / "models")))
# MLflow: a sqlite store under var/ by default (`mlflow ui --backend-store-uri` on it shows the
# runs); the compose file points this at its MLflow server. Empty: no tracking.
MLFLOW_TRACKING_URI = env("MLFLOW_TRACKING_URI", f"sqlite:///{VAR_DIR / 'mlflow.db'}")
MLFLOW_ARTIFACT_ROOT = env("MLFLOW_ARTIFACT_ROOT", str(VAR_DIR / "mlartifacts"))
MLFLOW_EXPERIMENT = env("MLFLOW_EXPERIMENT", "tradingai-training")
# Triple-barrier labels: ATR multiples, holding horizon in bars. The round-trip cost floor is
# two taker fees plus two slippages of the backtest's default costs.
LABEL_HORIZON = env_int("TRADINGAI_LABEL_HORIZON", 24)
LABEL_ATR_MULTIPLE = env_float("TRADINGAI_LABEL_ATR_MULTIPLE", 2.0)
# The label chosen by evidence (mlcore.pipeline.symbol.targets): candidate horizons (bars) and
# barrier widths (ATR multiples), judged on the first fold's inner validation slice. Empty horizons:
# the fixed TRADINGAI_LABEL_HORIZON and TRADINGAI_LABEL_ATR_MULTIPLE above.
TARGET_HORIZONS = [int(v) for v in env_list("TRADINGAI_TARGET_HORIZONS", "4,8,24")]
TARGET_ATR_MULTIPLES = [float(v) for v in env_list("TRADINGAI_TARGET_ATR_MULTIPLES", "1,2")]
# A grade is backed only by calls that fill at least this many independent horizons out of
# sample (per symbol, one call per horizon-long block: overlapping calls share their move).
MIN_INDEPENDENT_CALLS = env_int("TRADINGAI_MIN_INDEPENDENT_CALLS", 300)
# The universe model's horizon candidates in hours, per bar interval (chosen per fold by
# evidence, mlcore.pipeline.universe.pooled): slower bars reach slower horizons, where a
# round trip is a smaller share of the move (TRADINGAI_UNIVERSE_HORIZON_HOURS_4H="24,72").
UNIVERSE_HORIZON_HOURS = {
    interval: [int(v) for v in env_list(f"TRADINGAI_UNIVERSE_HORIZON_HOURS_{interval.upper()}", d)]
    for interval, d in {"1h": "4,8,24", "4h": "8,24,72,168"}.items()
}
# Training (mlcore.pipeline.symbol.walkforward.TrainConfig): walk-forward folds ("expanding" or
# "rolling" over the last TRADINGAI_TRAIN_ROLLING_BARS rows), the ensemble's XGBoost weight
# (or fit it on earlier folds' out-of-fold predictions), the calibration method.
TRAINING = {
    "folds": env_int("TRADINGAI_TRAIN_FOLDS", 5),
    "mode": env("TRADINGAI_TRAIN_MODE", "expanding"),
    "rolling_bars": env_int("TRADINGAI_TRAIN_ROLLING_BARS", 0),
    "xgb_weight": env_float("TRADINGAI_ENSEMBLE_XGB_WEIGHT", 0.55),
    "fit_weight": env_bool("TRADINGAI_ENSEMBLE_FIT_WEIGHT", False),
    "calibration": env("TRADINGAI_CALIBRATION", "sigmoid"),
}
# The training gates (mlcore.pipeline.common.gates.GateThresholds), each overridable from env.
GATE_THRESHOLDS = {
    "xgb_max_loss_ratio": env_float("TRADINGAI_GATE_XGB_MAX_LOSS_RATIO", 1.0),
    "lstm_max_loss_ratio": env_float("TRADINGAI_GATE_LSTM_MAX_LOSS_RATIO", 1.0),
    "backtest_grade_set": env("TRADINGAI_GATE_BACKTEST_GRADE_SET", "all"),
    "min_sharpe_percentile": env_float("TRADINGAI_GATE_MIN_SHARPE_PERCENTILE", 80.0),
    "min_signals": env_int("TRADINGAI_GATE_MIN_SIGNALS", 30),
    "promotion_margin": env_float("TRADINGAI_GATE_PROMOTION_MARGIN", 0.0),
    "min_common_rows": env_int("TRADINGAI_GATE_MIN_COMMON_ROWS", 500),
}
# Drift checks (mlcore.pipeline.common.drift.DriftThresholds and the window they look at).
DRIFT = {
    "window_bars": env_int("TRADINGAI_DRIFT_WINDOW_BARS", 720),
    "alpha": env_float("TRADINGAI_DRIFT_ALPHA", 0.01),
    "min_statistic": env_float("TRADINGAI_DRIFT_MIN_STATISTIC", 0.2),
    "min_effective_draws": env_int("TRADINGAI_DRIFT_MIN_EFFECTIVE_DRAWS", 8),
    "accuracy_drop": env_float("TRADINGAI_DRIFT_ACCURACY_DROP", 0.05),
    "min_outcomes": env_int("TRADINGAI_DRIFT_MIN_OUTCOMES", 200),
    "max_age_days": env_float("TRADINGAI_DRIFT_MAX_AGE_DAYS", 30.0),
}
# Same-turnover random runs behind each graded backtest (gate 5 and evaluate).
RANDOM_RUNS = env_int("TRADINGAI_RANDOM_RUNS", 200)

LOG_FORMAT = env("LOG_FORMAT", "plain")  # "json": one JSON object a line
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "tradingai.logs.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        },
        "json": {"()": "tradingai.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            # Both formatters mask secrets, tracebacks included (tradingai.logs).
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "mlflow": {"level": "WARNING"},
        "alembic": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # its start-up banner in every process; lockouts stay
        # Embedded, tasks run in the server (and in first_run's replay): a line per task would
        # bury what the newcomer reads. A worker's log keeps them.
        **({"celery.app.trace": {"level": "WARNING"}} if EMBEDDED else {}),
    },
}
