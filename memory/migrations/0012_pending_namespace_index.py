"""An index for the admin home page's "pending by namespace" (issue 23): pending memories
grouped by namespace with the oldest created_at, and the pending memories with a conflict.
Partial (status = 'pending'): reviews keep the pending set small while approved records
grow to millions, so the index stays small and the GROUP BY reads only it.

Raw SQL rather than AddIndex: the model's Meta (memory/models.py) does not declare it, so
the autodetector sees no change either way; the statement is the same in SQLite and
PostgreSQL. Declaring it there (models.Index with a condition) would need a state-only step."""

from django.db import migrations

INDEX = "memory_pending_ns_created_idx"


class Migration(migrations.Migration):
    dependencies = [("memory", "0011_task_verbose_name")]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX {INDEX} ON memory_memoryrecord (namespace, created_at) WHERE status = 'pending'",
            reverse_sql=f"DROP INDEX {INDEX}",
        )
    ]
