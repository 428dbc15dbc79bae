"""Concierge settings: the only module that reads the environment.

Two deployment profiles share this file. With no environment variables set
the app runs *embedded*: SQLite under ``var/``, an in-memory channel layer,
local-memory cache and a database task queue, files under ``var/media``.
Setting ``DATABASE_URL``, ``REDIS_URL`` and the ``AWS_*`` variables moves it
to the *scaled* profile without code changes.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("CONCIERGE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept under var/.

    A generated key survives restarts (sessions and signed links stay valid)
    without anyone having to invent one for a laptop demo.
    """
    if key := os.environ.get("SECRET_KEY"):
        return key
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


TESTING = "pytest" in sys.modules or os.environ.get("CONCIERGE_TESTING") == "1"
DEBUG = _env_bool("DEBUG", False)
SECRET_KEY = _secret_key()
# Older keys, comma-separated, during a rotation: sessions, signed links and the
# credentials sealed in the database (core/sealed.py) made with them still open.
SECRET_KEY_FALLBACKS = _env_list("SECRET_KEY_FALLBACKS", "")
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_NAME = os.environ.get("SITE_NAME", "Concierge")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "concierge.core",
    "concierge.accounts",
    "concierge.customers",
    "concierge.tickets",
    "concierge.mail",
    "concierge.chat",
    "concierge.knowledge",
    "concierge.search",
    "concierge.ai",
    "concierge.automation",
    "concierge.api",
    "concierge.realtime",
    "concierge.workspace",
    "concierge.portal",
    "concierge.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "concierge.urls"
ASGI_APPLICATION = "concierge.asgi.application"
WSGI_APPLICATION = "concierge.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "src" / "concierge" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "concierge.core.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# SQLite, whether the default file or a sqlite:// DATABASE_URL: WAL lets readers
# work while the task worker writes; IMMEDIATE transactions and a busy timeout
# turn short write contention into waiting, not "database is locked" errors.
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Under ASGI every request runs in a thread of its own, and a persistent
    # connection stays with its thread: DATABASE_CONN_MAX_AGE=0 closes them after
    # each request (the chat benchmark needs it to stay under max_connections).
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60"))
        )
    }
    # DATABASE_POOL=1 (PostgreSQL): one psycopg pool per process shared by every
    # thread, instead of a connection per thread (Django 5.1+, needs psycopg-pool).
    if _env_bool("DATABASE_POOL", False):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 2,
            "max_size": int(os.environ.get("DATABASE_POOL_MAX_SIZE", "20")),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(VAR_DIR / "concierge.sqlite3")),
        }
    }
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
    if TESTING:
        # The test database is a file, as in the embedded profile, not Django's
        # shared-cache in-memory default: there a browser test's server threads
        # and the inline task runner collide on table locks ("database table is
        # locked"), which neither WAL nor the busy timeout can wait out.
        DATABASES["default"]["TEST"] = {
            "NAME": os.path.join(tempfile.gettempdir(), f"concierge-test-{os.getpid()}.sqlite3")
        }
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, channel layer, tasks: Redis when REDIS_URL is set --------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Tests run tasks inline; the scaled profile queues them in Redis (RQ).
TASK_BACKEND = os.environ.get(
    "TASK_BACKEND", "immediate" if TESTING else ("rq" if REDIS_URL else "database")
)
# Two queues: "default" for the quick work that follows every message (triage,
# routing, notifications, indexing) and "long" for work that takes minutes
# (retraining the triage model, importing a help center). Workers take both,
# the quick queue first; the embedded worker runs one thread per queue, so a
# retrain never holds up the triage of a new ticket.
TASK_QUEUES = ["default", "long"]
TASKS = {
    "default": {
        "BACKEND": {
            "immediate": "django_tasks.backends.immediate.ImmediateBackend",
            "database": "django_tasks_db.DatabaseBackend",
            "rq": "django_tasks_rq.RQBackend",
        }[TASK_BACKEND],
        "QUEUES": TASK_QUEUES,
    }
}
if TASK_BACKEND == "rq":
    INSTALLED_APPS += ["django_tasks_rq", "django_rq"]
    RQ_QUEUES = {name: {"URL": REDIS_URL} for name in TASK_QUEUES}
# In the embedded profile the ASGI server runs a task worker thread so that
# no second process is needed (see concierge/asgi.py).
EMBEDDED_WORKER = _env_bool("CONCIERGE_EMBEDDED_WORKER", False)
# AI triage of every new ticket and customer message (automation.tasks.process_ticket_event);
# routing rules and assignment run either way. Tests turn it off unless they ask for it.
TRIAGE_ENABLED = _env_bool("CONCIERGE_TRIAGE", True)
# The sentence encoder triage reads (search.encoders names): "mpnet" is
# all-mpnet-base-v2 (the model help-center articles are searched with, so one
# model in memory), "default" MiniLM. MPNet is the more accurate (eval triage:
# Banking77 93.9 against 93.8 %, CLINC150 96.0 / 73.6 against 94.9 / 68.8,
# airline 84.4 against 82.4 %; Bitext 99.6 against 99.7, TweetEval level)
# and, since its per-token int8 build, within the 20 ms budget: all six
# predictions 13.1 ms per message (median; p95 19.2) against MiniLM's 7.8
# (12.2), measured one after the other. A trained model keeps the encoder it
# was trained with until it is retrained.
TRIAGE_ENCODER = os.environ.get("CONCIERGE_TRIAGE_ENCODER", "mpnet")
# Sentiment's vectors: "" = "mpnet-layers" when TRIAGE_ENCODER is "mpnet" (the last and
# three middle layers of the same pass, search/encoders.py MPNET_LAYER_FEATURES: tone
# survives in the middle layers), else TRIAGE_ENCODER.
TRIAGE_SENTIMENT_ENCODER = os.environ.get("CONCIERGE_TRIAGE_SENTIMENT_ENCODER", "")
# Fine-tune the intent and sentiment encoder on retrain (ai/finetune.py; needs
# requirements/finetune.txt, which `./concierge` installs when this variable is 1). Off:
# measured not worth its cost (intent: Banking77 +0.1 point for six times the training time).
TRIAGE_FINE_TUNE = _env_bool("CONCIERGE_FINE_TUNE", False)
# Fine-tune sentiment alone (TRIAGE_FINE_TUNE covers it too). Off: on validation the
# frozen model on MPNet's layer vector (TRIAGE_SENTIMENT_ENCODER) scored airline 85.76 %
# / TweetEval 63.84 against 84.83 / 64.06 fine-tuned, without torch or ~5 min of training
# (86.20 / 64.96 since its own regularisation, ai/training.py SENTIMENT_REGULARISATION).
TRIAGE_FINE_TUNE_SENTIMENT = _env_bool("CONCIERGE_FINE_TUNE_SENTIMENT", False)
# Until agents mark a ticket "none of these", a trained intent model answers a category for
# every message. A share such as 0.01 makes it answer "none of these" for messages less like
# any category than that share of its held-out labelled examples (ai/classifiers.py
# TrainingConfig.out_of_scope_reject_share, with the figures measured). 0 = off.
_out_of_scope_share = os.environ.get("CONCIERGE_TRIAGE_OUT_OF_SCOPE_WITHOUT_EXAMPLES", "") or "0"
try:
    TRIAGE_OUT_OF_SCOPE_WITHOUT_EXAMPLES = float(_out_of_scope_share)
except ValueError:
    TRIAGE_OUT_OF_SCOPE_WITHOUT_EXAMPLES = -1.0
if not 0 <= TRIAGE_OUT_OF_SCOPE_WITHOUT_EXAMPLES < 0.5:
    raise ImproperlyConfigured(
        "CONCIERGE_TRIAGE_OUT_OF_SCOPE_WITHOUT_EXAMPLES must be a share from 0 to 0.5 "
        f"(e.g. 0.01), not {_out_of_scope_share!r}"
    )

# --- Search (concierge.search) ---------------------------------------------
# Encoder per indexed kind ("" = lexical only): articles get MPNet, MiniLM and
# multilingual e5 fused ("mpnet+minilm+e5", see search/encoders.py; the MPNet model is
# built from its packages by `manage build_mpnet` or on first use), tickets the cheap
# static embeddings distilled from MiniLM (var/search/static-minilm.npz, made by
# `manage build_static_embeddings` or on first use). Tests index articles with MiniLM
# alone and tickets lexically unless a test asks for more, so that no test pays for
# the big models on every article or for the distillation.
SEARCH_ENCODERS = {
    "article": "default" if TESTING else "mpnet+minilm+e5",
    "ticket": "" if TESTING else "static",
    "customer": "",
}
SEARCH_STATIC_EMBEDDINGS = os.environ.get(
    "SEARCH_STATIC_EMBEDDINGS", str(VAR_DIR / "search" / "static-minilm.npz")
)
# Intra-op threads of the MiniLM session (one keeps a web worker from taking every core).
SEARCH_ENCODER_THREADS = int(os.environ.get("SEARCH_ENCODER_THREADS", "1"))
# A question's encoders (MPNet, MiniLM, e5) run side by side rather than one after
# the other (search/encoders.py _query_pool); false runs them in turn.
SEARCH_PARALLEL_QUERY_PARTS = _env_bool("SEARCH_PARALLEL_QUERY_PARTS", True)

# --- Real time (concierge.realtime, core.events) ----------------------------
# Stored events older than this are pruned (`manage prune_realtime_events`);
# a client away longer reloads its page instead of replaying.
REALTIME_EVENT_RETENTION_DAYS = float(os.environ.get("REALTIME_EVENT_RETENTION_DAYS", "7"))

# Periodic jobs, run by the task workers (concierge.core.scheduler): no cron needed.
# "call" is a function taking no arguments or a django-tasks task (then enqueued);
# "every" is in seconds. Each job runs once per interval across every worker and node.
SCHEDULED_JOBS: dict[str, dict[str, Any]] = {
    "drain_assignment_queues": {
        "call": "concierge.automation.assignment.drain_all_queues",
        "every": 300,
        "description": "Assign waiting tickets to agents who became free.",
    },
    "close_idle_chats": {
        "call": "concierge.chat.actions.close_idle_conversations",
        "every": 60,
        "description": "End chats idle past their channel's timeout.",
    },
    "prune_realtime_events": {
        "call": "concierge.core.events.prune_events",
        "every": 3600,
        "description": "Delete stored live events past their retention.",
    },
    "refresh_search_vectors": {
        "call": "concierge.search.actions.refresh_stale_vectors",
        "every": 60,
        "description": "Re-embed index rows left by a changed encoder (1,000 per pass).",
    },
    "retrain_triage": {
        "call": "concierge.ai.actions.request_scheduled_retrain",
        "every": 86400,
        "description": "Retrain the intent model on agents' labels (kept only if it validates).",
    },
}
# Off under tests (they call the scheduler directly) or where an operator prefers cron
# (`manage scheduled_jobs --run NAME`).
SCHEDULER_ENABLED = _env_bool("CONCIERGE_SCHEDULER", not TESTING)
SCHEDULER_TICK_SECONDS = float(os.environ.get("CONCIERGE_SCHEDULER_TICK", "30"))
# Agent sockets: largest client frame, frames allowed per window, heartbeat.
REALTIME_MAX_MESSAGE_BYTES = int(os.environ.get("REALTIME_MAX_MESSAGE_BYTES", "8192"))
REALTIME_RATE_LIMIT_MESSAGES = int(os.environ.get("REALTIME_RATE_LIMIT_MESSAGES", "60"))
REALTIME_RATE_LIMIT_WINDOW_SECONDS = float(
    os.environ.get("REALTIME_RATE_LIMIT_WINDOW_SECONDS", "10")
)
REALTIME_HEARTBEAT_SECONDS = float(os.environ.get("REALTIME_HEARTBEAT_SECONDS", "25"))
# Presence: no open socket for this long -> offline; no activity -> away.
REALTIME_OFFLINE_GRACE_SECONDS = float(os.environ.get("REALTIME_OFFLINE_GRACE_SECONDS", "30"))
REALTIME_AWAY_AFTER_SECONDS = float(os.environ.get("REALTIME_AWAY_AFTER_SECONDS", "300"))

# --- Live chat (concierge.chat, realtime/widget.py) -------------------------
# A visitor's message: most characters; socket frames: most bytes and frames
# per window; messages per visitor per window, counted across nodes (cache).
CHAT_MESSAGE_MAX_CHARS = int(os.environ.get("CHAT_MESSAGE_MAX_CHARS", "5000"))
CHAT_MAX_FRAME_BYTES = int(os.environ.get("CHAT_MAX_FRAME_BYTES", str(16 * 1024)))
CHAT_SOCKET_RATE_LIMIT = int(os.environ.get("CHAT_SOCKET_RATE_LIMIT", "30"))
CHAT_SOCKET_RATE_WINDOW_SECONDS = float(os.environ.get("CHAT_SOCKET_RATE_WINDOW_SECONDS", "10"))
CHAT_RATE_LIMIT_MESSAGES = int(os.environ.get("CHAT_RATE_LIMIT_MESSAGES", "20"))
CHAT_RATE_LIMIT_WINDOW_SECONDS = int(os.environ.get("CHAT_RATE_LIMIT_WINDOW_SECONDS", "10"))
# New anonymous visitors (each one a customer record) per client address per minute.
CHAT_NEW_VISITORS_PER_ADDRESS = int(os.environ.get("CHAT_NEW_VISITORS_PER_ADDRESS", "30"))

# --- Auth -----------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 is deliberately slow; tests create hundreds of users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
# Sign-in throttling: failures allowed per account and per IP inside the window.
SIGNIN_MAX_FAILURES_PER_ACCOUNT = int(os.environ.get("SIGNIN_MAX_FAILURES_PER_ACCOUNT", "5"))
SIGNIN_MAX_FAILURES_PER_IP = int(os.environ.get("SIGNIN_MAX_FAILURES_PER_IP", "20"))
SIGNIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("SIGNIN_FAILURE_WINDOW_SECONDS", "900"))
MAGIC_LINK_MAX_AGE_SECONDS = 15 * 60

# --- Security -------------------------------------------------------------
SECURE_COOKIES = _env_bool("SECURE_COOKIES", SITE_URL.startswith("https://"))
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if SECURE_COOKIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000

# The app's own pages use no inline script or style and no eval (Alpine's
# CSP build), so the policy can be strict.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Files ----------------------------------------------------------------
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_URL = "/static/"
STATICFILES_DIRS = [
    BASE_DIR / "src" / "concierge" / "static",
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/alpine", BASE_DIR / "node_modules" / "@alpinejs" / "csp" / "dist"),
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
STATICFILES_DIRS = [
    entry
    for entry in STATICFILES_DIRS
    if (entry[1] if isinstance(entry, tuple) else entry).exists()  # type: ignore[union-attr]
]
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
STORAGES = {
    "default": (
        {"BACKEND": "storages.backends.s3.S3Storage"}
        if AWS_STORAGE_BUCKET_NAME
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if TESTING or DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = TESTING or DEBUG
# Where an import started from the workspace reads a help center's API. The
# page asks only for a Zendesk subdomain, so the server calls Zendesk and
# Help Scout and nothing else; tests point these at a loopback server.
HELP_CENTER_IMPORT_ADDRESSES = {
    "zendesk": os.environ.get("ZENDESK_API_ADDRESS", "https://{subdomain}.zendesk.com"),
    "helpscout": os.environ.get("HELPSCOUT_DOCS_API_ADDRESS", "https://docsapi.helpscout.net"),
}
# Attachments: bounded size and a deny-list of types that browsers execute.
ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_BYTES", str(20 * 1024 * 1024)))
ATTACHMENT_MAX_PER_ENTRY = int(os.environ.get("ATTACHMENT_MAX_PER_ENTRY", "10"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
ENTRY_BODY_MAX_CHARS = 100_000

# --- Email ----------------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "outbox"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Concierge <support@localhost>")

# --- I18n -----------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
