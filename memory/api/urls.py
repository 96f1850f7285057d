from django.urls import path

from memory.api.health import HealthView
from memory.api.history import MemoryHistoryUndoView, MemoryHistoryView
from memory.api.long_term.views import (
    CompactView,
    ForgetView,
    LongTermMemoryDetailView,
    LongTermMemorySearchView,
    LongTermMemoryView,
)
from memory.api.prompt import MemoryPromptView
from memory.api.summary_views.views import (
    SummaryViewDetailView,
    SummaryViewListView,
    SummaryViewPartitionRunView,
    SummaryViewPartitionsView,
    SummaryViewRunView,
    TaskView,
)
from memory.api.working_memory.views import WorkingMemoryListView, WorkingMemoryView

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("working-memory/", WorkingMemoryListView.as_view(), name="working-memory-list"),
    path("working-memory/<str:session_id>", WorkingMemoryView.as_view(), name="working-memory"),
    path("long-term-memory", LongTermMemoryView.as_view(), name="long-term-memory-bulk"),
    path("long-term-memory/", LongTermMemoryView.as_view(), name="long-term-memory"),
    path("long-term-memory/search", LongTermMemorySearchView.as_view(), name="long-term-memory-search"),
    path("long-term-memory/forget", ForgetView.as_view(), name="long-term-memory-forget"),
    path("long-term-memory/compact", CompactView.as_view(), name="long-term-memory-compact"),
    path(
        "long-term-memory/history/<int:history_id>/undo",
        MemoryHistoryUndoView.as_view(),
        name="long-term-memory-history-undo",
    ),
    path("long-term-memory/<str:memory_id>/history", MemoryHistoryView.as_view(), name="long-term-memory-history"),
    path("long-term-memory/<str:memory_id>", LongTermMemoryDetailView.as_view(), name="long-term-memory-detail"),
    path("memory/prompt", MemoryPromptView.as_view(), name="memory-prompt"),
    path("summary-views", SummaryViewListView.as_view(), name="summary-views"),
    path("summary-views/<str:view_id>", SummaryViewDetailView.as_view(), name="summary-view"),
    path(
        "summary-views/<str:view_id>/partitions/run",
        SummaryViewPartitionRunView.as_view(),
        name="summary-view-partition-run",
    ),
    path("summary-views/<str:view_id>/partitions", SummaryViewPartitionsView.as_view(), name="summary-view-partitions"),
    path("summary-views/<str:view_id>/run", SummaryViewRunView.as_view(), name="summary-view-run"),
    path("tasks/<str:task_id>", TaskView.as_view(), name="task"),
]
