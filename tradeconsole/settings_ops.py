"""Settings of the desk's ops integrations (star-imported by settings.py, which stays a readable size):
the metrics switch and ports, notifications and their email server, the detailed health verdict,
the circuit breakers and the sign-in lockouts."""

from __future__ import annotations

from datetime import timedelta

import environ

from tradeconsole import env

MODE = env.string("TRADECONSOLE_MODE", "development")

# Metrics (tradeconsole/metrics.py): Prometheus exposition in every process, off with
# TRADECONSOLE_METRICS=off (the benchmarks compare both). web and api answer /metrics to the
# addresses listed here (Prometheus scrapes them directly, not through the proxy) and to staff;
# the other processes serve their own loopback port, 0 for none (tests start none).
METRICS = env.boolean("TRADECONSOLE_METRICS", True)
METRICS_ALLOWED_ADDRESSES = env.string_list("TRADECONSOLE_METRICS_ALLOWED_ADDRESSES", ["127.0.0.1", "::1"])
METRICS_PORTS = {
    name: env.integer(
        f"TRADECONSOLE_{name.upper()}_METRICS_PORT", 0 if MODE == "test" else port, minimum=0, maximum=65535
    )
    for name, port in (("bridge", 9102), ("marketdata", 9103), ("runner", 9104), ("celery", 9105))
}

# Notifications (notifications/): alerts sent by email through the desk's SMTP server, given as a URL
# (smtp://user:password@host:25, smtp+tls://host:587, smtp+ssl://host:465), and to webhooks; each
# delivery is retried with exponential backoff (capped well inside the broker's visibility timeout in settings.py),
# and beat looks for critical alerts to escalate every NOTIFICATIONS_ESCALATION_INTERVAL_SECONDS.
_email = environ.Env.email_url_config(env.string("TRADECONSOLE_EMAIL_URL", "smtp://localhost:25"))
EMAIL_HOST, EMAIL_PORT = _email["EMAIL_HOST"], _email["EMAIL_PORT"]
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_USER"], _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS, EMAIL_USE_SSL = _email.get("EMAIL_USE_TLS", False), _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env.string("TRADECONSOLE_EMAIL_FROM", "tradeconsole@localhost")
NOTIFICATIONS_EMAIL_BACKEND = env.string(
    "TRADECONSOLE_NOTIFICATIONS_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"
)
NOTIFICATIONS_TIMEOUT_SECONDS = env.number("TRADECONSOLE_NOTIFICATIONS_TIMEOUT", 10.0, minimum=0.1)
NOTIFICATIONS_MAX_RETRIES = env.integer("TRADECONSOLE_NOTIFICATIONS_MAX_RETRIES", 5, minimum=0)
NOTIFICATIONS_RETRY_BACKOFF_SECONDS = env.integer("TRADECONSOLE_NOTIFICATIONS_RETRY_BACKOFF", 10, minimum=1)
NOTIFICATIONS_RETRY_BACKOFF_MAX_SECONDS = env.integer(
    "TRADECONSOLE_NOTIFICATIONS_RETRY_BACKOFF_MAX", 600, minimum=1, maximum=1800
)
NOTIFICATIONS_ESCALATION_INTERVAL_SECONDS = env.integer("TRADECONSOLE_NOTIFICATIONS_ESCALATION_INTERVAL", 60, minimum=5)
# Deliveries that ended (sent, failed, rate limited) are deleted after this many days, hourly with housekeeping.
NOTIFICATIONS_DELIVERY_DAYS = env.integer("TRADECONSOLE_NOTIFICATIONS_DELIVERY_DAYS", 30, minimum=1)

# /health/detailed (tradeconsole/health_checks.py): the checks whose failure makes the desk "down"
# (readiness then answers 503); any other failing check makes it "degraded", still ready.
HEALTH_ESSENTIAL = env.string_list("TRADECONSOLE_HEALTH_ESSENTIAL", ["database", "redis"])

# Circuit breakers (tradeconsole/breakers.py): open after this many failures in a row, try again
# after this many seconds; per breaker name in BREAKERS, e.g. {"smtp": {"fail_max": 3}}.
BREAKER_FAIL_MAX = env.integer("TRADECONSOLE_BREAKER_FAIL_MAX", 5, minimum=1)
BREAKER_RESET_SECONDS = env.integer("TRADECONSOLE_BREAKER_RESET_SECONDS", 30, minimum=1)
BREAKERS: dict[str, dict] = {}

# Sign-in lockouts (django-axes, see accounts/lockouts.py): the admin login and HTTP Basic on the
# token endpoint. After the limit of failures within the cool-off, by user name or by client
# address, every sign-in of that name or from that address is refused with 429 and Retry-After
# until the cool-off has passed since the last counted failure (or an admin clears it). Counted in
# PostgreSQL, so every web and api process shares the counts. Refused attempts do not extend the
# lockout (Retry-After stays true, and a locked-out person is not kept out by an attacker's
# retries); a successful sign-in does not forget an address's failures against other names.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env.integer("TRADECONSOLE_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.integer("TRADECONSOLE_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_RESET_ON_SUCCESS = False
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "accounts.lockouts.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockouts.lockout_response"
# Sign-ins are not what this guards; the lockouts are audited (accounts.lockouts) and shown in the admin.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False
# The client address is REMOTE_ADDR unless this many reverse proxies, each appending the address it
# was reached from to X-Forwarded-For, stand in front of web and api: then it is the entry that
# many from the right. A header the client sent itself is never trusted while this is 0.
