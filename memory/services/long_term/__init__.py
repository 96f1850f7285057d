"""Writes to long-term memory, one module per concern:

- `indexing`: embed, index on commit, the sweep, rebuilds, access counts;
- `create`: create with dedup (by id, content hash, vector range);
- `dedup`: the dedup toolkit create and compaction share (content hash, type groups,
  candidate conditions, merging one record into another, conflict links);
- `sameness`: whether two near texts state the same fact;
- `edit`: edit (one verb, one list of editable fields) and delete, purge expired delete snapshots;
- `undo`: undo a history entry (a merge or a delete);
- `merge`: compact stored duplicates;
- `forget`: the forgetting policy;
- `supersede`: an update supersedes the record it replaces (both rows stay).

The public names are importable from here.
"""

from memory.services.long_term.create import (
    CreateOutcome,
    MemoriesCreateResult,
    MemoryIdConflictError,
    memories_create,
)
from memory.services.long_term.dedup import memory_hash
from memory.services.long_term.edit import (
    EDITABLE_FIELDS,
    MemoryNotFoundError,
    ReviewNotAllowedError,
    history_snapshots_purge,
    memories_delete,
    memories_edit,
    memory_edit,
)
from memory.services.long_term.forget import ForgetResult, memories_forget
from memory.services.long_term.indexing import (
    memories_access_flush,
    memories_after_search,
    memories_index,
    memories_index_sweep,
    memories_index_sweep_claim,
    memories_reindex,
)
from memory.services.long_term.merge import CompactResult, memories_compact
from memory.services.long_term.supersede import (
    SupersedeResult,
    memories_supersede,
    memories_supersede_approved,
    supersede_when_approved,
)
from memory.services.long_term.undo import (
    UndoNotPossibleError,
    memory_delete_undo,
    memory_history_undo,
    memory_merge_undo,
)

__all__ = [
    "CompactResult",
    "CreateOutcome",
    "EDITABLE_FIELDS",
    "ForgetResult",
    "MemoriesCreateResult",
    "MemoryIdConflictError",
    "MemoryNotFoundError",
    "ReviewNotAllowedError",
    "SupersedeResult",
    "UndoNotPossibleError",
    "history_snapshots_purge",
    "memories_access_flush",
    "memories_after_search",
    "memories_compact",
    "memories_create",
    "memories_delete",
    "memories_edit",
    "memories_forget",
    "memories_index",
    "memories_index_sweep",
    "memories_index_sweep_claim",
    "memories_reindex",
    "memories_supersede",
    "memories_supersede_approved",
    "supersede_when_approved",
    "memory_delete_undo",
    "memory_edit",
    "memory_hash",
    "memory_history_undo",
    "memory_merge_undo",
]
