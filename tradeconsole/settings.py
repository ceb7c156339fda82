"""Settings of the console, read from the environment through ``tradeconsole.env``.

``TRADECONSOLE_MODE`` is ``development`` (the quick start), ``test`` or ``production``.
Production refuses to start without an explicit ``SECRET_KEY`` and ``ALLOWED_HOSTS`` and turns
on every protection that ``manage.py check --deploy`` looks for.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from tradeconsole import env

BASE_DIR = Path(__file__).resolve().parent.parent

MODE = env.string("TRADECONSOLE_MODE", "development")
if MODE not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"TRADECONSOLE_MODE={MODE!r}: use development, test or production.")
PRODUCTION = MODE == "production"

_DEV_SECRET = "dev-insecure-tradeconsole-key-do-not-use-in-production-0123456789"
SECRET_KEY = env.string("SECRET_KEY") if PRODUCTION else env.string("SECRET_KEY", _DEV_SECRET)
DEBUG = env.boolean("DEBUG", default=MODE == "development")
ALLOWED_HOSTS = (
    env.string_list("ALLOWED_HOSTS", [])
    if PRODUCTION
    else env.string_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Set ALLOWED_HOSTS in production.")
CSRF_TRUSTED_ORIGINS = env.string_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "accounts.api_access_app.ApiAccessConfig",  # knox, named "API access" in the admin
    "axes",
    # Staff sign-in with a TOTP code (accounts/two_factor.py)
    "django_otp",
    "django_otp.plugins.otp_totp",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "orders",
    "marketdata",
    "strategies",
    "streams",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(), then the desk's rule of who must have signed in with a TOTP code
    "django_otp.middleware.OTPMiddleware",
    "accounts.two_factor.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tradeconsole.request_id.RequestIdMiddleware",
    # Last: turns a sign-in refused by a lockout into the 429 page (accounts.lockouts).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tradeconsole.urls"
ASGI_APPLICATION = "tradeconsole.asgi.application"
AUTH_USER_MODEL = "accounts.User"
# ModelBackend reading permissions in one query (sessions name it: changing it signs everyone out once),
# after django-axes' check, which refuses every sign-in of a locked-out user name or client address
# (it signs no one in, so sessions never name it).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "accounts.auth_backend.DeskModelBackend"]

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
                # The desk's time zone, named on every page (tradeconsole.clock).
                "tradeconsole.clock.context",
            ],
        },
    },
]

# PostgreSQL only, named by DATABASE_URL, which has no default (tradeconsole.env.database).
DATABASES = {"default": env.database("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.integer("TRADECONSOLE_DB_CONN_MAX_AGE", 60, minimum=0)
# A connection killed under a long-lived process (bridge, Celery) is noticed and replaced.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("TEST", {})["NAME"] = env.string(
    "TRADECONSOLE_TEST_DATABASE", "test_" + DATABASES["default"]["NAME"]
)
# The hot paths' plain statements (tradeconsole.db.cursor: order entry's, the token check,
# the bridge's) are prepared by each connection from their fifth run: PostgreSQL then stops
# parsing them, a third of its CPU per API order (bench api_orders). The ORM keeps Django's
# client-side binding. Off behind a pooler in transaction mode that cannot keep prepared
# statements (PgBouncer before 1.22, or without max_prepared_statements).
if env.boolean("TRADECONSOLE_DB_PREPARED_STATEMENTS", True):
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.redis_url("REDIS_URL", "redis://127.0.0.1:6379/0")
# Every Redis key and stream of this deployment starts with this prefix, so a test run or a
# second desk can share one Redis server without seeing each other's streams.
STREAM_PREFIX = env.string("TRADECONSOLE_STREAM_PREFIX", "tc")

# Live market topics (/ws/market/, marketdata/topics/): what one connection may hold and how often
# it hears from the server when nothing moves.
MARKET_TOPICS_MAX_SUBSCRIPTIONS = env.integer("TRADECONSOLE_MARKET_TOPICS_MAX_SUBSCRIPTIONS", 50, minimum=1)
MARKET_TOPICS_MAX_FRAME_BYTES = env.integer("TRADECONSOLE_MARKET_TOPICS_MAX_FRAME_BYTES", 4096, minimum=256)
MARKET_TOPICS_HEARTBEAT_SECONDS = env.number("TRADECONSOLE_MARKET_TOPICS_HEARTBEAT_SECONDS", 5.0, minimum=0.01)
# Frames waiting for one connection's socket; past this the client is too slow and is closed (4008).
MARKET_TOPICS_QUEUE_FRAMES = env.integer("TRADECONSOLE_MARKET_TOPICS_QUEUE_FRAMES", 2000, minimum=1)
MARKET_TOPICS_SNAPSHOT_BARS = env.integer("TRADECONSOLE_MARKET_TOPICS_SNAPSHOT_BARS", 300, minimum=1, maximum=10_000)

# The bar builder (manage.py marketdata, marketdata/bar_loop.py): closed bars kept in Redis per
# symbol and resolution, the length of {prefix}:bars:updates, how long after its interval a
# quiet bar is closed by time (ticks written just before the end may still be in flight), and the
# exchange calendar of an instrument whose exchange does not name one.
MARKETDATA_BAR_WINDOW = env.integer("TRADECONSOLE_MARKETDATA_BAR_WINDOW", 1000, minimum=1, maximum=100_000)
MARKETDATA_BAR_UPDATES_MAXLEN = env.integer("TRADECONSOLE_MARKETDATA_BAR_UPDATES_MAXLEN", 50_000, minimum=100)
MARKETDATA_BAR_CLOSE_DELAY = env.number("TRADECONSOLE_MARKETDATA_BAR_CLOSE_DELAY", 1.0, minimum=0)
MARKETDATA_CALENDAR = env.string("TRADECONSOLE_MARKETDATA_CALENDAR", "XNYS")

TWS_HOST = env.string("TWS_HOST", "127.0.0.1")
TWS_PORT = env.integer("TWS_PORT", 7497, minimum=1, maximum=65535)
TWS_CLIENT_ID = env.integer("TWS_CLIENT_ID", 1, minimum=0)
# The marketdata process's own TWS session (history, contract lookups): never the worker's id, so
# historical requests never spend the order path's message budget.
MARKETDATA_TWS_CLIENT_ID = env.integer("MARKETDATA_TWS_CLIENT_ID", 7, minimum=0)
# The most running sessions one strategy runner process holds (more runners share the rest).
STRATEGY_RUNNER_CAPACITY = env.integer("STRATEGY_RUNNER_CAPACITY", 2000, minimum=1)
# How many days back the marketdata process fills missing bars on start and after a reconnect.
MARKETDATA_BACKFILL_DAYS = env.integer("MARKETDATA_BACKFILL_DAYS", 5, minimum=0, maximum=365)

# The live pages' channel layer. "core" (lists per channel, capacity-bounded) or "pubsub" (Redis
# PUBLISH, nothing stored); bench/bench_fanout.py measures both, see streams/README.md.
CHANNEL_LAYER = env.string("TRADECONSOLE_CHANNEL_LAYER", "pubsub")
if CHANNEL_LAYER not in {"core", "pubsub"}:
    raise ImproperlyConfigured(f"TRADECONSOLE_CHANNEL_LAYER={CHANNEL_LAYER!r}: use core or pubsub.")
CHANNEL_LAYERS = {
    "default": (
        {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": f"{STREAM_PREFIX}:asgi",
                "capacity": 1000,
                "expiry": 30,
                "group_expiry": 86400,
            },
        }
        if CHANNEL_LAYER == "core"
        else {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{STREAM_PREFIX}:asgi"},
        }
    )
}

CELERY_BROKER_URL = env.redis_url("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.integer("TRADECONSOLE_CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1),
    "global_keyprefix": f"{STREAM_PREFIX}:celery:",
}
MONITOR_INTERVAL_SECONDS = env.integer("TRADECONSOLE_MONITOR_INTERVAL", 5, minimum=1)
# Celery for the monitoring loop and scheduled orders (issue 6). A task whose worker process dies
# is re-queued, not acked; only tasks idempotent in PostgreSQL (scheduled firing) also ack late.
# Only a notification's retry waits (a countdown of at most TRADECONSOLE_NOTIFICATIONS_RETRY_BACKOFF_MAX,
# 30 minutes at most), so nothing waits in the broker past the visibility timeout (an hour), which
# the worker asserts at start-up (celery #7651: a setting silently not applied).
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# kombu sweeps for unacked messages past their visibility timeout every 10 s but, by default, acts
# on one sweep in ten; act on every sweep so a killed worker's task is redelivered promptly.
CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_throttle"] = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_MAX_LOOP_INTERVAL = env.number("TRADECONSOLE_BEAT_MAX_LOOP_INTERVAL", 1.0, minimum=0.1)
# Scheduled orders: every tick, the occurrences due within the horizon become orders with a
# not_before time; one later than its grace window is MISSED; after an outage missed occurrences
# are looked for this many days back.
SCHEDULER_TICK_SECONDS = env.number("TRADECONSOLE_SCHEDULER_TICK", 2.0, minimum=0.1)
SCHEDULER_HORIZON_SECONDS = env.number("TRADECONSOLE_SCHEDULER_HORIZON", 10.0, minimum=0)
SCHEDULER_LOOKBACK_DAYS = env.integer("TRADECONSOLE_SCHEDULER_LOOKBACK_DAYS", 7, minimum=1)
# Monitoring loop: broker refresh budget, staleness thresholds, which processes must beat.
MONITOR_BROKER_MESSAGES_PER_SECOND = env.number("TRADECONSOLE_MONITOR_BROKER_RATE", 5.0, minimum=0.1)
MONITOR_HEARTBEATS = env.string_list("TRADECONSOLE_MONITOR_HEARTBEATS", ["execution", "bridge"])
MONITOR_HEARTBEAT_MAX_AGE_SECONDS = env.integer("TRADECONSOLE_MONITOR_HEARTBEAT_MAX_AGE", 15, minimum=1)
MONITOR_POSITION_REPORT_MAX_AGE_SECONDS = env.integer("TRADECONSOLE_MONITOR_POSITION_REPORT_MAX_AGE", 60, minimum=1)
MONITOR_STREAM_LAG_MAX = env.integer("TRADECONSOLE_MONITOR_STREAM_LAG_MAX", 1000, minimum=1)
MONITOR_OUTBOX_MAX_AGE_SECONDS = env.integer("TRADECONSOLE_MONITOR_OUTBOX_MAX_AGE", 10, minimum=1)
MONITOR_FULL_RECOMPUTE_EVERY = env.integer("TRADECONSOLE_MONITOR_FULL_RECOMPUTE_EVERY", 12, minimum=1)
# Housekeeping (hourly): acknowledged outbox rows and commission reports whose execution never came
# are deleted after these many days; API idempotency keys after their promised 24 hours.
HOUSEKEEPING_INTERVAL_SECONDS = env.integer("TRADECONSOLE_HOUSEKEEPING_INTERVAL", 3600, minimum=60)
HOUSEKEEPING_OUTBOX_DAYS = env.integer("TRADECONSOLE_HOUSEKEEPING_OUTBOX_DAYS", 30, minimum=1)
HOUSEKEEPING_COMMISSION_DAYS = env.integer("TRADECONSOLE_HOUSEKEEPING_COMMISSION_DAYS", 7, minimum=1)
# Prices (orders.valuation): the market-data feed stores an instrument's price from its ticks at
# most every PRICE_RECORD_SECONDS; positions valued at a price older than PRICE_STALE_SECONDS say so.
PRICE_RECORD_SECONDS = env.number("TRADECONSOLE_PRICE_RECORD_SECONDS", 1.0, minimum=0)
PRICE_STALE_SECONDS = env.integer("TRADECONSOLE_PRICE_STALE_SECONDS", 60, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Scripts: hashed, expiring, revocable per-user tokens (``Authorization: Token …``).
        "accounts.api.authentication.TokenAuthentication",
        # Browsers: the session, with CSRF enforced by DRF.
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "tradeconsole.api_schema.AutoSchema",
    "EXCEPTION_HANDLER": "tradeconsole.exceptions.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "tradeconsole.pagination.LimitOffsetPagination",
    "DEFAULT_METADATA_CLASS": "tradeconsole.pagination.ApiMetadata",
    # JSON only, as docs/api.md says: a form encoding has no null, and DRF reads an empty form
    # field of a partial update as "not sent", so one PATCH meant two things (schemathesis).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "PAGE_SIZE": 100,
    # Anti-automation on order entry, per user and shared by every web process (Redis);
    # the per-account risk limit on orders per minute is the domain's, not this.
    "DEFAULT_THROTTLE_RATES": {
        "orders": env.string("TRADECONSOLE_API_ORDER_RATE", "600/min"),
        # A basket preview holds the account's lock while it checks its lines (accounts.api.throttling).
        "basket_previews": env.string("TRADECONSOLE_API_BASKET_PREVIEW_RATE", "30/min"),
    },
}
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.integer("TRADECONSOLE_API_TOKEN_TTL_HOURS", 24 * 7, minimum=1)),
    "TOKEN_LIMIT_PER_USER": env.integer("TRADECONSOLE_API_TOKENS_PER_USER", 10, minimum=1),
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "tradeconsole API",
    "DESCRIPTION": (
        "The operations console of an Interactive Brokers trading desk. Live market topics "
        "(WebSocket /ws/market/) are described in the [AsyncAPI document](/api/v1/asyncapi.json)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status" field with different choices; name each enum so the schema
    # is stable and `check --deploy` has nothing to warn about (drf_spectacular.W001).
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.OrderStatus",
        "AlertStatusEnum": "accounts.models.Alert.Status",
        "ScheduledOrderRunStatusEnum": "orders.models.ScheduledOrderRun.Status",
        "TradingSessionStatusEnum": "strategies.models.TradingSession.Status",
        "BrokerAccountKindEnum": "accounts.models.BrokerAccount.Kind",
        "SideEnum": "orders.models.choices.Side",
        "ResolutionEnum": "marketdata.resolutions.CHOICES",
        "BacktestStatusEnum": "strategies.models_backtests.Backtest.Status",
        "OrderTypeEnum": "orders.models.OrderType",
        "FlattenOrderTypeEnum": "orders.api.flatten.FLATTEN_ORDER_TYPE_CHOICES",
        "BasketStatusEnum": "orders.models.Basket.Status",
    },
}

# Sign-in lockouts (django-axes): tradeconsole/settings_ops.py.
PROXY_COUNT = env.integer("TRADECONSOLE_PROXY_COUNT", 0, minimum=0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.string("TRADECONSOLE_TIME_ZONE", "America/New_York")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Outside production the web process serves static files straight from the apps and static/
# (no collectstatic needed: a fresh checkout's tests and pages work as they are).
WHITENOISE_AUTOREFRESH = DEBUG or MODE == "test"
WHITENOISE_USE_FINDERS = not PRODUCTION
# Files served at the site's root, such as /favicon.ico, which every browser asks for.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Metrics' switch, addresses and ports, notifications and their email server, /health/detailed
# and the circuit breakers: tradeconsole/settings_ops.py.
from tradeconsole.settings_ops import *  # noqa: E402, F403

if METRICS:  # noqa: F405 (from settings_ops)
    # A Celery worker's pool children count their tasks into one directory the worker serves: set
    # here, before the apps below import prometheus_client.
    from tradeconsole.metrics_dir import celery_worker_directory_prepare

    celery_worker_directory_prepare()
    INSTALLED_APPS.append("django_prometheus")
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *MIDDLEWARE,
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
    # Requests of the desk take milliseconds: django-prometheus's default buckets start at 10 ms.
    PROMETHEUS_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"))

LOGIN_URL = "admin:login"
# Staff sign-in with a TOTP code (accounts/two_factor.py): a user who enrolled an authenticator
# always gives a code; where enforced (production by default), the roles named here must enrol
# and sign in with one (superusers count as Admin).
TWO_FACTOR_ENFORCED = env.boolean("TRADECONSOLE_TWO_FACTOR_ENFORCED", PRODUCTION)
TWO_FACTOR_ROLES = env.string_list("TRADECONSOLE_TWO_FACTOR_ROLES", ["Risk manager", "Admin"])
OTP_TOTP_ISSUER = env.string("TRADECONSOLE_TOTP_ISSUER", "tradeconsole")
SESSION_COOKIE_AGE = env.integer("TRADECONSOLE_SESSION_AGE", 12 * 3600, minimum=60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

if PRODUCTION:
    SECURE_SSL_REDIRECT = env.boolean("TRADECONSOLE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    X_FRAME_OPTIONS = "DENY"

# The periodic tasks beat sends every few seconds: their runs are logged at DEBUG, what they do at INFO.
ROUTINE_PERIODIC_TASKS = (
    "orders.tasks.scheduled_orders_fire",
    "orders.tasks.monitoring_run",
    "notifications.tasks.follow_up_run",
)
# JSON lines with the correlation id (logclock.structured); text for people under make run.
LOG_FORMAT = env.string("TRADECONSOLE_LOG_FORMAT", "console" if MODE == "development" else "json").lower()
if LOG_FORMAT not in {"json", "console"}:
    raise ImproperlyConfigured(f"TRADECONSOLE_LOG_FORMAT={LOG_FORMAT!r}: use json or console.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # One clock in every process's log lines: UTC with the zone written (logclock), not the desk's zone.
    "formatters": {"plain": {"()": "logclock.structured.formatter", "kind": LOG_FORMAT}},
    "filters": {
        "client_error_without_traceback": {"()": "tradeconsole.logs.ClientErrorWithoutTraceback"},
        # Beat's and the worker's line per run of a routine periodic task go to DEBUG (issue 22).
        "routine_task_at_debug": {
            "()": "tradeconsole.logs.RoutineTaskAtDebug",
            "tasks": ROUTINE_PERIODIC_TASKS,
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.string("TRADECONSOLE_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own console handler would print every record of "django" a second time (DEBUG).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.request": {"filters": ["client_error_without_traceback"]},
        # A line per counted failure and per lockout; not its bookkeeping.
        "axes": {"level": "WARNING"},
        "celery.beat": {"filters": ["routine_task_at_debug"]},
        "celery.worker.strategy": {"filters": ["routine_task_at_debug"]},
        "celery.app.trace": {"filters": ["routine_task_at_debug"]},
    },
}
