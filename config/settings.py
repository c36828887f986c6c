"""Settings for the SMS back office, read from the environment through django-environ.

Every value a deployment changes comes from an environment variable (or a `.env` file beside
`manage.py`); the defaults run the product on an embedded SQLite database with django-q2's ORM
broker. `config.production` tightens the security settings for a real deployment.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-change-me-" + "x" * 40)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config",  # before the admin: its admin/base_site.html adds the favicon
    "config.apps.BackOfficeAdminConfig",  # django.contrib.admin with the per-persona home page
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served by us, not a CDN
    "django_filters",
    "import_export",
    "django_q",
    "consent",
    "templates",
    "campaigns",
    "messaging",
]

MIDDLEWARE = [
    # First: a click on a short link is answered before sessions, CSRF and auth cost anything.
    "messaging.links.ShortLinkMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.StaffTimeZoneMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# Persistent connections are worth ~5.7x on webhook-shaped views.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A health check is one more round trip at the start of every request (a STOP, an API call);
# without it, the first request on a connection the database dropped fails and the next opens
# a new one. Turn it on where connections are often cut (a proxy with idle timeouts).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
# The API's per-client throttle counts here: use Redis (redis://...) when several processes serve.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if SQLITE:
    # SQLite serialises writers. WAL lets readers go on while one writes; IMMEDIATE takes the
    # write lock when a transaction starts, so a writer waits (up to `timeout` seconds) instead
    # of failing with "database is locked" when it upgrades a read lock mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# Dates and times in the admin: one format with the zone's abbreviation (config/formats/).
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- The product -----------------------------------------------------------------------------

# The name in the admin's header and on the landing page.
SITE_NAME = env.str("SITE_NAME", default="SMS back office")

# Region used to read national-format phone numbers ("(415) 555-2671").
DEFAULT_REGION = env.str("DEFAULT_REGION", default="US")
# Key for the keyed hash under which erased numbers stay suppressed. Never rotate it: a new key
# would make every erased opt-out messageable again.
PHONE_HASH_KEY = env.str("PHONE_HASH_KEY", default=SECRET_KEY)

TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
# Webhooks from numbers in subaccounts are signed with that subaccount's token: "ACxxx=token,...".
TWILIO_SUBACCOUNT_AUTH_TOKENS = env.dict("TWILIO_SUBACCOUNT_AUTH_TOKENS", default={})
# Webhooks signed with a shared key (X-Twilio-Webhooks-Signature-Settings): "keyid=secret,...".
TWILIO_WEBHOOK_SHARED_KEYS = env.dict("TWILIO_WEBHOOK_SHARED_KEYS", default={})
# Where the provider reaches us; webhook signatures are computed over this URL.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# Provider backend, like Django's e-mail backends: "twilio", "console" or "locmem".
SMS_BACKEND = env.str("SMS_BACKEND", default="console")

# --- django-q2 -------------------------------------------------------------------------------
# ORM broker by default (nothing to install); a Redis URL in Q2_BROKER switches to Redis.
# save_limit=-1: the default prunes saved results on every task, 3.7-6.9x slower.
Q2_BROKER = env.str("Q2_BROKER", default="orm")
# Run queued tasks inline instead of on the cluster (the test suite does).
Q2_SYNC = env.bool("Q2_SYNC", default=False)
Q_CLUSTER = {
    "name": "backoffice",
    # One worker on SQLite: a second one is only a second writer waiting for the lock.
    "workers": env.int("Q2_WORKERS", default=1 if SQLITE else 2),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 3,
    "save_limit": -1,
    "ack_failures": True,
    "catch_up": False,
    "label": "Task queue",
}
if Q2_BROKER == "orm":
    Q_CLUSTER |= {"orm": "default", "bulk": 10, "poll": 0.2}
else:
    Q_CLUSTER |= {"redis": Q2_BROKER}

# --- REST framework --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["config.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["config.api.auth.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["config.api.auth.ClientRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "config.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# API request bodies: larger ones are refused with 413 `too_large` before parsing, JSON nested
# deeper than this many arrays/objects with 400 `too_deep`.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=256 * 1024)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=20)
# Outbound webhooks to partners: attempts per delivery, backoff (base doubling up to the cap,
# seconds), request timeout, and how many failed attempts in a row disable a subscription.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_BACKOFF_BASE_SECONDS = env.int("WEBHOOK_BACKOFF_BASE_SECONDS", default=30)
WEBHOOK_BACKOFF_MAX_SECONDS = env.int("WEBHOOK_BACKOFF_MAX_SECONDS", default=6 * 3600)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_CONSECUTIVE_FAILURES = env.int("WEBHOOK_MAX_CONSECUTIVE_FAILURES", default=10)
# Partner URLs resolving to loopback, private or link-local addresses are refused (SSRF) unless
# this is on; it is by default only under DEBUG.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=DEBUG)
# The hosted opt-in form: sign-ups one IP may make per hour, and whether to read the client's IP
# from X-Forwarded-For (only behind a proxy that sets it; otherwise anyone could forge it).
JOIN_FORM_RATE_PER_HOUR = env.int("JOIN_FORM_RATE_PER_HOUR", default=30)
# Confirmation texts the join form may cause: per number in 24 hours (from the ledger), and in
# all per clock hour (counted in the cache); a sign-up over either is refused, nothing recorded.
JOIN_FORM_TEXTS_PER_NUMBER_24H = env.int("JOIN_FORM_TEXTS_PER_NUMBER_24H", default=3)
JOIN_FORM_TEXTS_PER_HOUR = env.int("JOIN_FORM_TEXTS_PER_HOUR", default=500)
# A join form submitted sooner than this many seconds after the page was shown is a script's.
JOIN_FORM_MIN_SECONDS = env.float("JOIN_FORM_MIN_SECONDS", default=3.0)
TRUST_X_FORWARDED_FOR = env.bool("TRUST_X_FORWARDED_FOR", default=False)
# Links to the preference centre (sent in messages) stop working after this many days.
PREFERENCES_LINK_MAX_AGE_DAYS = env.int("PREFERENCES_LINK_MAX_AGE_DAYS", default=90)
# Where the daily ledger-root task also writes the root file (empty: the database row only).
# Point it at storage the database's owners cannot rewrite (another host, a WORM bucket mount).
LEDGER_ROOT_DIR = env.str("LEDGER_ROOT_DIR", default="")
# Stored responses to `Idempotency-Key` requests are pruned after this many hours.
API_IDEMPOTENCY_TTL_HOURS = env.int("API_IDEMPOTENCY_TTL_HOURS", default=48)
SPECTACULAR_SETTINGS = {
    "TITLE": "SMS back office API",
    "DESCRIPTION": "Consent, messages and events for partner systems.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Two "kind" choice sets (ledger events, message events) each get their own clear name.
    "ENUM_NAME_OVERRIDES": {"ConsentKindEnum": "consent.models.ConsentKind"},
    # The answers every operation can give (404, 413, 409/422 on POSTs), documented once.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.schema.document_common_answers",
    ],
}

# --- import-export ---------------------------------------------------------------------------
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
# Consent imports commit per batch of this many rows (one transaction, contacts locked in id
# order); the admin's import job shows this many rows of the file in its preview.
IMPORT_BATCH_ROWS = env.int("IMPORT_BATCH_ROWS", default=1000)
IMPORT_PREVIEW_ROWS = env.int("IMPORT_PREVIEW_ROWS", default=20)

# --- Records retention (compliance owns these) ----------------------------------------------
# Message bodies and raw provider payloads older than this many days are purged daily (a
# SHA-256 of each body is kept). The consent ledger, confirmations and suppressions are kept.
RETENTION_MESSAGE_BODY_DAYS = env.int("RETENTION_MESSAGE_BODY_DAYS", default=400)
RETENTION_WEBHOOK_PAYLOAD_DAYS = env.int("RETENTION_WEBHOOK_PAYLOAD_DAYS", default=400)
RETENTION_PURGE_BATCH = env.int("RETENTION_PURGE_BATCH", default=2000)

# --- Content checks (compliance owns these) -------------------------------------------------
# Links in messages must be on these branded domains (subdomains included).
SMS_ALLOWED_LINK_DOMAINS = env.list("SMS_ALLOWED_LINK_DOMAINS", default=["acme.example"])
# Bodies longer than this many segments get a warning.
SMS_MAX_SEGMENTS = env.int("SMS_MAX_SEGMENTS", default=2)

# --- Sending policy (compliance owns these) --------------------------------------------------
# FCC "revoke-all": a STOP to one program stops every program of the sender. Delayed to
# 31 Jan 2027; switch on then (or earlier, by choice).
SMS_REVOKE_ALL = env.bool("SMS_REVOKE_ALL", default=False)
# Most marketing messages one person gets in any 24 hours, across programs (empty: no cap).
SMS_GLOBAL_MARKETING_CAP_24H = env.int("SMS_GLOBAL_MARKETING_CAP_24H", default=None)
# Who answers "was this number reassigned?" (a class path; tests use a stand-in).
REASSIGNED_NUMBER_CHECKER = env.str(
    "REASSIGNED_NUMBER_CHECKER", default="messaging.reassigned.TwilioLookupChecker"
)
# Reassigned-number check before a marketing send to a consent older than this many days.
REASSIGNED_CHECK_AFTER_DAYS = env.int("REASSIGNED_CHECK_AFTER_DAYS", default=90)
# What a "no data" answer does: "send" or "hold" (hold: a person decides).
REASSIGNED_NO_DATA_POLICY = env.str("REASSIGNED_NO_DATA_POLICY", default="send")
# Retries of transient provider errors: attempts in all, and the backoff base / cap in seconds.
SMS_MAX_ATTEMPTS = env.int("SMS_MAX_ATTEMPTS", default=8)
SMS_BACKOFF_BASE = env.float("SMS_BACKOFF_BASE", default=2.0)
SMS_BACKOFF_MAX = env.float("SMS_BACKOFF_MAX", default=900.0)
# How long a claimed message may stay "sending" before reconciliation looks at it. A batch
# starts no hand-off, and waits for no rate, past 75% of it (messaging.dispatch.LEASE_MARGIN):
# that plus TWILIO_TIMEOUT must end before the dispatch task is killed (messaging.checks).
SMS_LEASE_SECONDS = env.int("SMS_LEASE_SECONDS", default=120)
# Messages a dispatch task claims at once.
SMS_DISPATCH_BATCH = env.int("SMS_DISPATCH_BATCH", default=200)
# Seconds a message may wait in the provider's queue before it expires instead of going out
# late (Twilio's ValidityPeriod; Twilio's own default is 36,000).
SMS_VALIDITY_PERIOD_SECONDS = env.int("SMS_VALIDITY_PERIOD_SECONDS", default=14_400)
# Reassigned-number look-ups that fail for a passing reason are retried this many times (with
# backoff from 15 minutes) before the "no data" policy applies.
REASSIGNED_LOOKUP_MAX_TRIES = env.int("REASSIGNED_LOOKUP_MAX_TRIES", default=4)
# How long after hand-off the provider's price is fetched (Twilio fills it in after sending).
SMS_PRICE_FETCH_AFTER_MINUTES = env.int("SMS_PRICE_FETCH_AFTER_MINUTES", default=10)
# Estimated price of one outbound segment by sender kind, for the launch summary's cost line
# ("10dlc=0.0083,toll_free=0.0083,short_code=0.0083"; carrier fees come on top), and its currency.
SMS_PRICE_PER_SEGMENT = env.dict(
    "SMS_PRICE_PER_SEGMENT",
    default={"10dlc": "0.0083", "toll_free": "0.0083", "short_code": "0.0083"},
)
SMS_PRICE_CURRENCY = env.str("SMS_PRICE_CURRENCY", default="USD")

# --- Reports and incidents (marketing and compliance own these) ------------------------------
# An opt-out (STOP, carrier 21610) counts against the last message the person got from the
# program within this many hours; a reply against the last message from any program.
SMS_OPT_OUT_ATTRIBUTION_HOURS = env.int("SMS_OPT_OUT_ATTRIBUTION_HOURS", default=72)
SMS_REPLY_ATTRIBUTION_HOURS = env.int("SMS_REPLY_ATTRIBUTION_HOURS", default=24)
# While a campaign sends, its outcomes so far (its daily counters) are checked after each
# dispatch batch for it and every minute: an opt-out rate, a carrier-filtering (30007) share or
# a failure rate above its threshold opens an incident and pauses the campaign, once at least
# INCIDENT_MIN_SAMPLE of its messages were sent. Senders are checked every minute on today's
# counters the same way (an incident, no pause).
INCIDENT_MIN_SAMPLE = env.int("INCIDENT_MIN_SAMPLE", default=200)
INCIDENT_OPT_OUT_RATE = env.float("INCIDENT_OPT_OUT_RATE", default=0.02)
INCIDENT_FILTERED_SHARE = env.float("INCIDENT_FILTERED_SHARE", default=0.05)
INCIDENT_FAILURE_RATE = env.float("INCIDENT_FAILURE_RATE", default=0.10)

# --- Link tracking and conversions (marketing owns these) ------------------------------------
# The branded domain short links live on (https://<domain>/<code>); a request whose Host is this
# domain is a link click. Programs (or campaigns) turn tracking on; links to the allowed link
# domains in their messages are then replaced, per recipient, by a short link.
SMS_LINK_DOMAIN = env.str("SMS_LINK_DOMAIN", default="go.acme.example")
# Days after sending a short link stops working (404); empty: links never expire.
SMS_LINK_MAX_AGE_DAYS = env.int("SMS_LINK_MAX_AGE_DAYS", default=None)
# A click's commit does not wait for its write-ahead log flush: several times the redirects a
# second on a busy disk; a database crash may lose the last fraction of a second of clicks.
SMS_LINK_ASYNC_COMMIT = env.bool("SMS_LINK_ASYNC_COMMIT", default=True)
# A click this many seconds after delivery or sooner is a link preview, not a person.
SMS_LINK_BOT_SECONDS = env.float("SMS_LINK_BOT_SECONDS", default=2.0)
# A second hit on the same link of the same message within this many seconds is a bot.
SMS_LINK_REPEAT_SECONDS = env.float("SMS_LINK_REPEAT_SECONDS", default=1.0)
# A conversion is credited to the last human click this many days before it...
SMS_CONVERSION_CLICK_WINDOW_DAYS = env.int("SMS_CONVERSION_CLICK_WINDOW_DAYS", default=5)
# ... else to the last delivered message this many hours before it.
SMS_CONVERSION_VIEW_WINDOW_HOURS = env.int("SMS_CONVERSION_VIEW_WINDOW_HOURS", default=24)

# --- Registrations and the program review (compliance owns these) -----------------------------
# Days between program reviews of a registration (each registration may set its own cadence).
REGISTRATION_REVIEW_DAYS = env.int("REGISTRATION_REVIEW_DAYS", default=7)
# Days of sent traffic a review reads.
REGISTRATION_REVIEW_WINDOW_DAYS = env.int("REGISTRATION_REVIEW_WINDOW_DAYS", default=30)
# A live template no registered sample resembles at least this much (0-1) is "drift".
REGISTRATION_SAMPLE_SIMILARITY = env.float("REGISTRATION_SAMPLE_SIMILARITY", default=0.5)
# A share of carrier-filtered (30007) messages above this warns of trouble.
REGISTRATION_FILTERED_SHARE_WARN = env.float("REGISTRATION_FILTERED_SHARE_WARN", default=0.02)
# A 10DLC sender's message with no approved registration covering its program and message
# type: "hold" it (reason unregistered_sender) or "warn" (log it, send, and let the review
# report it).
SMS_UNREGISTERED_SENDER = env.str("SMS_UNREGISTERED_SENDER", default="hold")
# Which message types each use case covers (the live use-case list changes: this is data).
REGISTRATION_USE_CASE_MESSAGE_TYPES: dict[str, tuple[str, ...]] = {
    "MARKETING": ("marketing",),
    "MIXED": (),  # its sub-use-cases decide
    "LOW_VOLUME": (),
    "ACCOUNT_NOTIFICATION": ("transactional",),
    "DELIVERY_NOTIFICATION": ("transactional",),
    "2FA": ("transactional",),
    "SECURITY_ALERT": ("transactional",),
    "FRAUD_ALERT": ("transactional",),
    "HIGHER_EDUCATION": ("transactional",),
    "PUBLIC_SERVICE_ANNOUNCEMENT": ("transactional",),
    "POLLING_VOTING": ("marketing",),
    "CUSTOMER_CARE": ("customer_care",),
    "CHARITY": ("marketing", "transactional"),
    "SWEEPSTAKE": ("marketing",),
    "K12_EDUCATION": ("transactional",),
    "POLITICAL": ("marketing",),
    "EMERGENCY": ("transactional",),
    "AGENTS_FRANCHISES": ("marketing", "transactional", "customer_care"),
    "PROXY": ("customer_care",),
    "SOCIAL": ("marketing",),
    "SOLE_PROPRIETOR": ("marketing", "transactional", "customer_care"),
}

# --- Inbound and conversations -----------------------------------------------------------------
# The business as named in answers to a number that has no sender set up (STOP, HELP).
SMS_BUSINESS_NAME = env.str("SMS_BUSINESS_NAME", default="Acme")
SMS_SUPPORT_KEYWORDS = env.list("SMS_SUPPORT_KEYWORDS", default=["SUPPORT", "AGENT"])
# Replies agents pick from in a conversation: (title, text) pairs, or texts (their own title).
SMS_CANNED_RESPONSES = [
    ("Thanks, on it", "Thanks for your message. We are looking into it and will reply shortly."),
    ("Need details", "Could you tell us a little more, e.g. your order number?"),
    ("Resolved", "Glad we could help. Reply any time if you need anything else."),
]
# Sent once a night to someone who writes outside business hours (empty: off).
SMS_AFTER_HOURS_REPLY = env.str("SMS_AFTER_HOURS_REPLY", default="")
SMS_BUSINESS_HOURS = (
    "09:00",
    "17:00",
    env.str("SMS_BUSINESS_TIME_ZONE", default="America/New_York"),
)
# The zone times in the admin are shown in (with its abbreviation) for staff who chose none
# of their own (Time zone, in the admin's user links).
ADMIN_TIME_ZONE = env.str("ADMIN_TIME_ZONE", default=SMS_BUSINESS_HOURS[2])

# --- Twilio client -------------------------------------------------------------------------------
TWILIO_TIMEOUT = env.float("TWILIO_TIMEOUT", default=10.0)
# Tests and benches point these at a local stand-in; empty means Twilio's own hosts.
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="")
TWILIO_LOOKUP_BASE_URL = env.str("TWILIO_LOOKUP_BASE_URL", default="")
# Where Twilio's Messaging v1 API (A2P brands, campaigns, toll-free verifications) lives.
TWILIO_MESSAGING_BASE_URL = env.str("TWILIO_MESSAGING_BASE_URL", default="")
