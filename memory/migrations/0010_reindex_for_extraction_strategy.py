"""Every record's index document gains the `extraction_strategy` tag (a search filter).

The index schema changed with it, so `index.ensure_index` recreates the index over the
existing documents at the next start; those documents still lack the tag, and a filter
on it would miss them. Marking every row `index_pending` hands them to the worker's
periodic sweep (`memories_index_sweep`), which rewrites each document from its row with
the stored vector (no re-embedding). `manage.py reindex_memories` does it at once.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def mark_every_record_for_indexing(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("memory", "MemoryRecord").objects.update(index_pending=True)


class Migration(migrations.Migration):
    dependencies = [("memory", "0009_record_metadata_and_summary_views")]

    operations = [migrations.RunPython(mark_every_record_for_indexing, migrations.RunPython.noop)]
