"""The admin home page at a million records (issue 23): its latency by role, its SQL
queries and the query plan of each.

A scratch database (a fresh SQLite file, var/bench/admin_home.sqlite3, or the database
`--database-url` names, e.g. PostgreSQL) is migrated and seeded as a busy deployment
holds it: N memory records (default 1,000,000) of 6 namespaces and 500 users over the
last year, 1% of them pending and 2% rejected, with their history rows (created, and the
reviews) and one source turn each; 300 possible conflicts; N/100 extraction runs over the
last 40 days (4% failed, about ten in the last 24 hours; tokens and cost set), one
session promotion per run (1% with turns not yet extracted); the default policies
(`seed_defaults`), a running experiment whose two variants ran the last 10 days' runs of
one namespace, and a continuous summary view by user whose partitions are stored fresh
right before timing (so its staleness check must compare them all). Rows go in as raw
multi-row INSERTs (COPY on PostgreSQL), 50,000 a transaction; no embeddings and no index
documents (the page reads counts).

Then GET /admin/ is timed in this process (Django's test Client, force_login) as a
Reviewer, a Policy editor and a superuser, `--repeat` times each after one unmeasured
request, and one more request per role runs under CaptureQueriesContext: its SQL
queries are counted, and each SELECT is run once more alone (its own ms) and explained
(`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL). A full scan of a table that
grows with the records (BIG_TABLES) is flagged ("SCAN" without an index on SQLite, "Seq
Scan" on PostgreSQL), and so is SQLite's scan of a whole index of one ("SCAN ... USING
INDEX": it reads every entry).

The page also reads Redis (health, queue depth, index size): REDIS_URL must name one
with the search and JSON modules; `make bench-admin-home` starts the embedded one.

    make bench-admin-home ADMIN_HOME_ARGS="--records 20000"
    .venv/bin/python benchmarks/admin_home.py [--records 1000000] [--repeat 20]
        [--database-url postgres://memory:memory@127.0.0.1:5432/memory_admin_home] [--reuse]

`--reuse` times a database seeded by an earlier run (migrating it first), so the page can
be measured again after a change without seeding a million rows again.
"""

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = BASE_DIR / "var" / "bench"
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "benchmarks"))

from benchlib import machine, percentiles  # noqa: E402

NAMESPACES = ("support", "sales", "onboarding", "research", "billing", "ops")
USERS = 500
RECORDS_PER_RUN = 100  # one extraction run (and one session) per 100 records
CONFLICTS = 300
COMMIT_EVERY = 50_000
SLOWEST = 5  # statements listed per role at the end
SQL_KEPT = 2000  # characters of each statement kept in the results (an IN list can run to 250,000)
# Tables that grow with the records (history and turns about as fast); the rest stay small.
BIG_TABLES = ("memory_memoryrecord", "memory_memoryhistory", "memory_sourcemessage", "policies_extractionrun")
EXPERIMENT_NAMESPACE = "support"
EXPERIMENT_DAYS = 10


def django_setup(database_url: str | None) -> None:
    """Point this process's Django at the scratch database, then set it up."""
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("REDIS_URL is not set: run `make bench-admin-home`, or point REDIS_URL at a Redis with search")
    VAR.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{VAR / 'admin_home.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryproject.settings")
    import django

    django.setup()


def database_prepare(database_url: str | None) -> None:
    """A fresh SQLite file by default; a PostgreSQL database is created if missing."""
    if database_url is None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{VAR / 'admin_home.sqlite3'}{suffix}").unlink(missing_ok=True)
    elif database_url.startswith("postgres"):
        postgres_database_ensure(database_url)


def postgres_database_ensure(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    url = re.match(r"(?P<base>.*/)(?P<name>[^/?]+)(?P<query>\?.*)?$", database_url)
    if url is None:
        raise SystemExit(f"cannot read a database name in {database_url!r}")
    with psycopg.connect(f"{url['base']}postgres", autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [url["name"]]).fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url["name"])))
            print(f"created database {url['name']}", flush=True)


def migrate_and_seed_defaults() -> None:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_defaults", verbosity=0)
    print(f"migrated and seeded defaults in {time.perf_counter() - started:.1f} s", flush=True)


# --- Raw inserts ---------------------------------------------------------------------------


def rows_insert(model: Any, rows: Iterator[dict[str, Any]], *, total: int, label: str) -> None:
    """Insert `rows` (column -> value; the other columns as a default instance of `model`
    has them, an auto id left to the database) as multi-row INSERTs, one transaction per
    COMMIT_EVERY rows, printing progress."""
    from django.db import connection

    template = model()
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.auto_created)]
    defaults = {f.column: f.get_db_prep_save(f.pre_save(template, add=True), connection) for f in fields}
    columns = list(defaults)
    # SQLite (3.32+) binds up to 32,766 parameters, PostgreSQL 65,535.
    per_statement = max(1, min(1000, 30_000 // len(columns)))
    head = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} "
        f"({', '.join(connection.ops.quote_name(c) for c in columns)}) VALUES "
    )
    row_sql = f"({', '.join(['%s'] * len(columns))})"
    done, started, batch = 0, time.perf_counter(), []
    for row in rows:
        batch.append([row.get(c, defaults[c]) for c in columns])
        if len(batch) == COMMIT_EVERY:
            done += _batch_insert(connection, head, row_sql, batch, per_statement)
            batch = []
            print(f"   {label}: {done:,} of {total:,}", end="\r", flush=True)
    if batch:
        done += _batch_insert(connection, head, row_sql, batch, per_statement)
    print(f"   {label}: {done:,} rows in {time.perf_counter() - started:.1f} s", flush=True)


def _batch_insert(connection: Any, head: str, row_sql: str, batch: list[list[Any]], per_statement: int) -> int:
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: multi-row INSERTs through Django's client-side binding ran ~1,500 rows/s.
            copy_sql = head.replace("INSERT INTO", "COPY", 1).removesuffix(" VALUES ") + " FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                for row in batch:
                    copy.write_row(row)
            return len(batch)
        for first in range(0, len(batch), per_statement):
            rows = batch[first : first + per_statement]
            cursor.execute(head + ", ".join([row_sql] * len(rows)), [value for row in rows for value in row])
    return len(batch)


def datetime_prep() -> Callable[[datetime], Any]:
    from django.db import connection

    return connection.ops.adapt_datetimefield_value


def run_rows(*, runs: int, now: datetime, experiment: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Run j is session s-j; runs are spread evenly over the last 40 days, oldest first;
    4% fail. Runs of the experiment's namespace since it started ran its variants."""
    prep, span = datetime_prep(), timedelta(days=40)
    for j in range(runs):
        started = now - span + span * (j + 0.5) / runs
        namespace = NAMESPACES[j % len(NAMESPACES)]
        failed = j % 25 == 11
        row = {
            "namespace": namespace,
            "user_id": f"user-{j % USERS}",
            "session_id": f"s-{j}",
            "policy_version_id": experiment["published_version_id"],
            "strategy": "discrete",
            "model": "gpt-4o-mini",
            "status": "failed" if failed else "succeeded",
            "failure": "outage" if failed else "",
            "error": "provider unavailable (synthetic)" if failed else "",
            "message_count": 10,
            "tokens_in": 900 + j % 700,
            "tokens_out": 120 + j % 180,
            "cost_usd": Decimal(900 + j % 700) * Decimal("0.00000015") + Decimal(120 + j % 180) * Decimal("0.0000006"),
            "latency_ms": 800 + j % 1500,
            "memories_created": 0 if failed else RECORDS_PER_RUN,
            "started_at": prep(started),
            "finished_at": prep(started + timedelta(seconds=2)),
        }
        if namespace == EXPERIMENT_NAMESPACE and started >= experiment["started_at"]:
            variant = experiment["variants"][(j // len(NAMESPACES)) % 2]
            row.update(experiment_id=experiment["id"], variant_id=variant["id"])
            row["policy_version_id"] = variant["version_id"]
        yield {k: _prep_value(v) for k, v in row.items()}


def _prep_value(value: Any) -> Any:
    from django.db import connection

    return connection.ops.adapt_decimalfield_value(value, 12, 6) if isinstance(value, Decimal) else value


def record_rows(*, records: int, now: datetime, run_ids: dict[str, int]) -> Iterator[dict[str, Any]]:
    """Record i belongs to run and session i // 100 (its namespace and user); records are
    spread over the last year, oldest first; 1% pending, 2% rejected, 10% episodic."""
    prep, span = datetime_prep(), timedelta(days=365)
    for i in range(records):
        j = i // RECORDS_PER_RUN
        when = prep(now - span + span * (i + 0.5) / records)
        yield {
            "id": f"m-{i}",
            "text": f"synthetic fact {i} of user {j % USERS}",
            "memory_type": "episodic" if i % 10 == 4 else "semantic",
            "namespace": NAMESPACES[j % len(NAMESPACES)],
            "user_id": f"user-{j % USERS}",
            "session_id": f"s-{j}",
            "status": "pending" if i % 100 == 7 else "rejected" if i % 50 == 3 else "approved",
            "memory_hash": f"{i:016x}",
            "created_at": when,
            "updated_at": when,
            "persisted_at": when,
            "last_accessed": when,
            "extraction_run_id": run_ids[f"s-{j}"],
            "index_pending": False,
        }


def history_rows(*, records: int, now: datetime) -> Iterator[dict[str, Any]]:
    """What the services write: a `created` row per record and a reviewer's row for each
    reviewed one (the rejected 2%, and 1% approved on the desk), at the record's time."""
    prep, span = datetime_prep(), timedelta(days=365)
    for i in range(records):
        j = i // RECORDS_PER_RUN
        when = prep(now - span + span * (i + 0.5) / records)
        owner = {"memory_id": f"m-{i}", "namespace": NAMESPACES[j % len(NAMESPACES)], "user_id": f"user-{j % USERS}"}
        yield {**owner, "actor": "system:promotion", "action": "created", "created_at": when}
        if i % 50 == 3 or i % 100 == 21:
            action = "rejected" if i % 50 == 3 else "approved"
            yield {**owner, "actor": "admin:bench-reviewer", "action": action, "created_at": when}


def message_rows(*, records: int, now: datetime) -> Iterator[dict[str, Any]]:
    """One conversation turn per record (session j's turns 1..100, at its records' times),
    what the `messages` strategy keeps; an LLM's extraction keeps fewer facts per turn."""
    prep, span = datetime_prep(), timedelta(days=365)
    for i in range(records):
        j = i // RECORDS_PER_RUN
        when = prep(now - span + span * (i + 0.5) / records)
        yield {
            "namespace": NAMESPACES[j % len(NAMESPACES)],
            "session_id": f"s-{j}",
            "message_id": f"t-{i}",
            "user_id": f"user-{j % USERS}",
            "seq": i % RECORDS_PER_RUN + 1,
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"synthetic turn {i}",
            "created_at": when,
            "persisted_at": when,
        }


def promotion_rows(*, sessions: int, now: datetime) -> Iterator[dict[str, Any]]:
    """One per session; 1% of them have their last 4 turns not yet extracted."""
    prep = datetime_prep()
    for j in range(sessions):
        lagging = j % 100 == 99
        yield {
            "namespace": NAMESPACES[j % len(NAMESPACES)],
            "session_id": f"s-{j}",
            "user_id": f"user-{j % USERS}",
            "persisted_seq": RECORDS_PER_RUN,
            "extracted_seq": RECORDS_PER_RUN - 4 if lagging else RECORDS_PER_RUN,
            "updated_at": prep(now - timedelta(minutes=j % 90)),
        }


def conflict_rows(*, records: int, now: datetime) -> Iterator[dict[str, Any]]:
    """Pending records (i % 100 == 7) each linked to the next record, spread over the set."""
    prep = datetime_prep()
    step = max(1, records // 100 // CONFLICTS)
    for k in range(min(CONFLICTS, records // 100)):
        i = (k * step) * 100 + 7
        yield {
            "memory_id": f"m-{i}",
            "other_id": f"m-{i + 1}",
            "reason": "numbers differ",
            "distance": 0.05,
            "created_at": prep(now - timedelta(hours=k)),
        }


# --- The rest of a deployment ----------------------------------------------------------------


def experiment_seed(now: datetime) -> dict[str, Any]:
    """A draft version of the default policy against its published one, running on one
    namespace since EXPERIMENT_DAYS ago; a continuous summary view."""
    from memory.services.summary_views.views import summary_view_create
    from policies.models import Experiment, Policy
    from policies.selectors.versions import DEFAULT_POLICY_NAME
    from policies.services import policy_version_create
    from policies.services.experiments import experiment_create, experiment_start

    policy = Policy.objects.get(name=DEFAULT_POLICY_NAME)
    published = policy.published_version
    assert published is not None
    draft = policy_version_create(policy=policy, strategy="discrete", params={"max_memories": 3}, actor="bench")
    experiment = experiment_create(
        key="fewer-memories",
        namespaces=[EXPERIMENT_NAMESPACE],
        variants=[("A", published, 1), ("B", draft, 1)],
        actor="bench",
    )
    experiment_start(experiment=experiment, actor="bench")
    started_at = now - timedelta(days=EXPERIMENT_DAYS)
    Experiment.objects.filter(pk=experiment.pk).update(started_at=started_at)
    summary_view_create(
        tenant="",
        namespaces=None,
        user_ids=None,
        fields={"name": "by user", "group_by": ["user_id"], "time_window_days": 30, "continuous": True},
        actor="bench",
    )
    return {
        "id": experiment.pk,
        "started_at": started_at,
        "published_version_id": published.pk,
        "variants": [{"id": v.pk, "version_id": v.version_id} for v in experiment.variants.order_by("id")],
    }


def data_seed(records: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from memory.models import MemoryConflict, MemoryHistory, MemoryRecord, SessionPromotion, SourceMessage
    from policies.models import ExtractionRun

    now = timezone.now()
    experiment = experiment_seed(now)
    runs = -(-records // RECORDS_PER_RUN)
    started = time.perf_counter()
    rows_insert(ExtractionRun, run_rows(runs=runs, now=now, experiment=experiment), total=runs, label="extraction runs")
    run_ids = dict(ExtractionRun.objects.values_list("session_id", "id"))
    rows_insert(SessionPromotion, promotion_rows(sessions=runs, now=now), total=runs, label="session promotions")
    rows_insert(
        MemoryRecord, record_rows(records=records, now=now, run_ids=run_ids), total=records, label="memory records"
    )
    rows_insert(MemoryConflict, conflict_rows(records=records, now=now), total=CONFLICTS, label="conflicts")
    reviewed = records // 50 + records // 100
    rows_insert(MemoryHistory, history_rows(records=records, now=now), total=records + reviewed, label="history")
    rows_insert(SourceMessage, message_rows(records=records, now=now), total=records, label="source messages")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # What autovacuum does soon after such a load: statistics for the planner, and
            # hint bits set, so the timed reads do not write them.
            cursor.execute("VACUUM ANALYZE")
        else:
            # The load's pages move from the WAL into the database file, as SQLite's own
            # checkpoints soon would: the timed reads see a settled file.
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"seeded {records:,} records in {time.perf_counter() - started:.1f} s", flush=True)


def summary_partitions_refresh() -> int:
    """Store every partition of each summary view as just summarised (count and latest
    update as they are now): the staleness check's worst case, which must compare every
    partition before it can say none is stale. Run right before timing, as the view's
    time window moves."""
    from django.db.models import Count, Max
    from django.utils import timezone

    from memory.models import SummaryPartition, SummaryView
    from memory.selectors.summary_views import encode_group_key, view_records

    now, stored = timezone.now(), 0
    for view in SummaryView.objects.all():
        fields = list(view.group_by or [])
        groups = (
            view_records(view=view, now=now).order_by().values(*fields).annotate(n=Count("id"), m=Max("updated_at"))
        )
        SummaryPartition.objects.filter(view=view).delete()
        partitions = []
        for row in groups:
            group = {f: row[f] or "" for f in fields}
            partitions.append(
                SummaryPartition(
                    view=view,
                    group_key=encode_group_key(group),
                    group=group,
                    user_id=group.get("user_id") or None,
                    namespace=group.get("namespace") or None,
                    kind=SummaryPartition.Kind.EXTRACTIVE,
                    summary="synthetic",
                    memory_count=row["n"],
                    covered_count=row["n"],
                    source_count=row["n"],
                    source_updated_at=row["m"],
                )
            )
        stored += len(SummaryPartition.objects.bulk_create(partitions, batch_size=500))
    return stored


def users_ensure() -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from memory.services.roles import POLICY_EDITOR, REVIEWER, roles_ensure

    groups, user_model = roles_ensure(), get_user_model()
    users = {}
    for label, group in (("reviewer", REVIEWER), ("policy editor", POLICY_EDITOR), ("superuser", None)):
        username = f"bench-{label.replace(' ', '-')}"
        user = user_model.objects.filter(username=username).first()
        if user is None:
            make = user_model.objects.create_superuser if group is None else user_model.objects.create_user
            user = make(username=username, password=None, is_staff=True)
            if group is not None:
                user.groups.add(groups[group])
        users[label] = user
    return users


# --- Timing and plans ------------------------------------------------------------------------


def page_time(user: Any, repeat: int) -> dict[str, Any]:
    """Timings of GET /admin/ for `user` (one unmeasured request first), then one request's
    SQL under CaptureQueriesContext."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    started = time.perf_counter()
    try:
        # Captured too: when the page fails (a query past the timeout), its statements so far.
        with CaptureQueriesContext(connection) as first_queries:
            first = client.get("/admin/")
    except Exception as error:
        sqls = [q["sql"] for q in first_queries.captured_queries]
        return {"error": f"{type(error).__name__}: {error}".strip(), "queries": len(sqls), "sql": sqls}
    first_ms = (time.perf_counter() - started) * 1000
    if first.status_code != 200:
        return {"error": f"answered {first.status_code}", "queries": 0, "sql": []}
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get("/admin/")
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        client.get("/admin/")
    p50, p95, _ = percentiles(timings) if len(timings) > 1 else (timings[0],) * 3
    return {
        "first_ms": round(first_ms, 1),
        "p50_ms": round(p50, 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(max(timings), 1),
        "mean_ms": round(statistics.fmean(timings), 1),
        "queries": len(captured.captured_queries),
        "sql": [q["sql"] for q in captured.captured_queries],
        "page_bytes": len(first.content),
    }


def plan_of(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            return [str(row[3]) for row in cursor.fetchall()]
        cursor.execute(f"EXPLAIN {sql}")
        return [str(row[0]) for row in cursor.fetchall()]


def statement_ms(sql: str) -> float | None:
    """One more run of a captured statement, fetched in full: what it costs by itself
    (None: past the query timeout)."""
    from django.db import DatabaseError, connection, transaction

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            return (time.perf_counter() - started) * 1000
    except DatabaseError:
        return None


class QueryDeadline:
    """SQLite has no statement timeout: a progress handler interrupts a statement (its
    execution and its fetches) once it has run `seconds`. An execute wrapper restarts the
    clock at each statement. PostgreSQL gets `statement_timeout` instead."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.deadline = seconds, float("inf")

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        self.deadline = time.monotonic() + self.seconds
        context["connection"].connection.set_progress_handler(self._past, 100_000)
        return execute(sql, params, many, context)

    def _past(self) -> bool:
        return time.monotonic() > self.deadline


def query_timeout_set(seconds: float) -> Any:
    """A context in which no statement runs longer than `seconds`."""
    import contextlib

    from django.db import connection

    if connection.vendor == "sqlite":
        return connection.execute_wrapper(QueryDeadline(seconds))
    connection.close()  # the next connection opens with the option
    connection.settings_dict.setdefault("OPTIONS", {})["options"] = f"-c statement_timeout={int(seconds * 1000)}"
    return contextlib.nullcontext()


def plan_flags(sql: str, plan: list[str]) -> list[str]:
    """The plan lines that read a whole big table (or a whole index of one). SQLite's
    "SEARCH t" with no index (as it explains a MIN() over a filtered table) reads every
    row too; a SEARCH through an index is not flagged, however many rows it matches (the
    statement's own ms tell those apart)."""
    aliases = {alias: table for table, alias in re.findall(r'"(\w+)" (?:AS )?"?([A-Z]\d+)\b', sql)}
    flags = []
    for line in plan:
        scanned = (
            re.search(r"\bSCAN (?:TABLE )?(\w+)", line)
            or re.search(r"\bSEARCH (?:TABLE )?(\w+)\s*$", line)
            or re.search(r"Seq Scan on (\w+)", line)
        )
        if scanned is None:
            continue
        table = aliases.get(scanned.group(1), scanned.group(1))
        if table not in BIG_TABLES:
            continue
        if "Seq Scan" in line or " USING " not in line:
            flags.append(f"FULL SCAN of {table}: {line.strip()}")
        else:
            flags.append(f"whole-index scan of {table}: {line.strip()}")
    return flags


def plans_explain(sqls: list[str], *, failed: bool = False) -> list[dict[str, Any]]:
    """Each SELECT's plan, the big-table scans in it, and its own time; the statement a
    failed page stopped at (its last) is explained but not run again."""
    explained = []
    for number, sql in enumerate(sqls, 1):
        if not re.match(r"\s*(SELECT|WITH)\b", sql, re.IGNORECASE):
            continue
        plan = plan_of(sql)
        ms = None if failed and number == len(sqls) else statement_ms(sql)
        shown = sql if len(sql) <= SQL_KEPT else f"{sql[:SQL_KEPT]} ... ({len(sql):,} characters)"
        explained.append(
            {
                "sql": shown,
                "ms": None if ms is None else round(ms, 2),
                "plan": plan,
                "flags": plan_flags(sql, plan),
            }
        )
    return explained


def counts() -> dict[str, int]:
    from memory.models import MemoryConflict, MemoryHistory, MemoryRecord, SourceMessage
    from policies.models import ExtractionRun

    return {
        "memory records": MemoryRecord.objects.count(),
        "pending": MemoryRecord.objects.filter(status="pending").count(),
        "conflicts": MemoryConflict.objects.count(),
        "history rows": MemoryHistory.objects.count(),
        "source messages": SourceMessage.objects.count(),
        "extraction runs": ExtractionRun.objects.count(),
    }


def report_print(results: dict[str, Any]) -> None:
    print(f"\n{results['database']}, {results['counts']}")
    print("\n| role | first ms | p50 ms | p95 ms | max ms | SQL queries |")
    print("|---|---:|---:|---:|---:|---:|")
    for role, row in results["roles"].items():
        if "error" in row:
            print(f"| {role} | failed: {row['error'][:100]} | | | | {row['queries']} (until it failed) |")
            continue
        print(
            f"| {role} | {row['first_ms']:.0f} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {row['max_ms']:.1f} "
            f"| {row['queries']} |"
        )
    for role, row in results["roles"].items():
        print(f"\n--- {role}: {len(row['plans'])} SELECTs explained")
        for number, explained in enumerate(row["plans"], 1):
            ms = "not run again" if explained["ms"] is None else f"{explained['ms']:.1f} ms"
            print(f"[{number}] {ms}: {explained['sql'][:300]}")
            for line in explained["plan"]:
                print(f"      {line}")
            for flag in explained["flags"]:
                print(f"   !! {flag}")
    flagged = sorted({f for row in results["roles"].values() for e in row["plans"] for f in e["flags"]})
    print(f"\n{len(flagged)} distinct big-table scan(s)" + "".join(f"\n   {f}" for f in flagged))
    for role, row in results["roles"].items():
        slowest = sorted((e for e in row["plans"] if e["ms"] is not None), key=lambda e: -e["ms"])[:SLOWEST]
        print(f"\n{role}: the {len(slowest)} slowest statements alone")
        for explained in slowest:
            print(f"   {explained['ms']:8.1f} ms  {explained['sql'][:110]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="default: a fresh var/bench/admin_home.sqlite3")
    parser.add_argument("--reuse", action="store_true", help="migrate and time an earlier run's database")
    parser.add_argument("--query-timeout", type=float, default=120, help="seconds one SQL statement may run")
    parser.add_argument("--json", default=str(VAR / "admin_home.json"))
    args = parser.parse_args()
    if not args.reuse:
        django_setup_fresh(args)
    else:
        django_setup(args.database_url)
        migrate_and_seed_defaults()  # migrations added since it was seeded run on its rows
    results: dict[str, Any] = {"machine": machine(), "command": " ".join([sys.executable, *sys.argv])}
    print(f"admin home benchmark: {results['machine']}", flush=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sqlite_version()" if connection.vendor == "sqlite" else "SHOW server_version")
        version = cursor.fetchone()[0]
    results["database"] = f"{connection.vendor} {version} {connection.settings_dict['NAME']}"
    results["counts"] = counts()
    results["records"] = results["counts"]["memory records"]
    results.update(repeat=args.repeat, query_timeout_s=args.query_timeout)
    results["summary_partitions"] = summary_partitions_refresh()
    print(f"   {results['summary_partitions']} summary partitions stored as fresh", flush=True)
    results["roles"] = roles_time(repeat=args.repeat, query_timeout=args.query_timeout)
    results["failed"] = {role: row["error"] for role, row in results["roles"].items() if "error" in row}
    report_print(results)
    Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print(f"\nfigures written to {args.json}")
    if results["failed"]:
        raise SystemExit(f"GET /admin/ failed for {', '.join(results['failed'])}")


def roles_time(*, repeat: int, query_timeout: float) -> dict[str, dict[str, Any]]:
    """Each role's timings, queries and plans; a role whose page fails keeps its error and
    the statements it ran (one broken page must not hide the others' figures)."""
    roles = {}
    with query_timeout_set(query_timeout):
        for role, user in users_ensure().items():
            row = page_time(user, repeat)
            row["plans"] = plans_explain(row.pop("sql"), failed="error" in row)
            roles[role] = row
            if "error" in row:
                print(f"   {role}: GET /admin/ failed after {row['queries']} queries: {row['error']}", flush=True)
            else:
                figures = f"p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, {row['queries']} queries"
                print(f"   {role}: {figures}", flush=True)
    return roles


def django_setup_fresh(args: argparse.Namespace) -> None:
    """Prepare, migrate and seed the scratch database (refusing one that holds records)."""
    database_prepare(args.database_url)
    django_setup(args.database_url)
    migrate_and_seed_defaults()
    from memory.models import MemoryRecord

    if MemoryRecord.objects.exists():
        raise SystemExit("the database already holds memory records: pass --reuse to time it as it is, or drop it")
    data_seed(args.records)


if __name__ == "__main__":
    os.chdir(BASE_DIR)
    main()
