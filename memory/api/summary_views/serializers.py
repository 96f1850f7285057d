"""Summary views' and tasks' input and output, as agent-memory-client 0.14's models
(`CreateSummaryViewRequest`, `SummaryView`, `SummaryViewPartitionResult`, `Task`) and the
reference's request bodies (`RunSummaryViewPartitionRequest`, `RunSummaryViewRequest`).
"""

from typing import Any

from django.conf import settings
from rest_framework import serializers

from memory.api.fields import StrictCharField, TagValueField, no_control_characters
from memory.datetimes import datetime_encode
from memory.models import SummaryPartition, SummaryView, Task
from memory.selectors.summary_views import GROUP_FIELDS

# The view filters a record can be narrowed by (the reference's, with its newest three).
FILTER_FIELDS = ("user_id", "namespace", "session_id", "memory_type", "extraction_strategy", "topics", "event_date")
NAME_MAX_LENGTH = SummaryView._meta.get_field("name").max_length
MODEL_NAME_MAX_LENGTH = SummaryView._meta.get_field("model_name").max_length
TASK_ID_MAX_LENGTH = Task._meta.get_field("id").max_length


class CreateSummaryViewSerializer(serializers.Serializer[Any]):
    name = StrictCharField(
        required=False, allow_null=True, max_length=NAME_MAX_LENGTH, validators=[no_control_characters]
    )
    # "working_memory" is the reference's reserved value: refused by name, as it does.
    source = serializers.ChoiceField(choices=["long_term"])  # type: ignore[assignment]  # the reference's name; shadows the stubs' Field.source
    group_by = serializers.ListField(
        child=serializers.ChoiceField(choices=list(GROUP_FIELDS)), max_length=len(GROUP_FIELDS)
    )
    filters = serializers.DictField(required=False, allow_null=True, allow_empty=True)
    time_window_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=settings.SUMMARY_VIEW_MAX_WINDOW_DAYS
    )
    continuous = serializers.BooleanField(required=False, allow_null=True, default=False)
    prompt = StrictCharField(
        required=False, allow_null=True, trim_whitespace=False, max_length=settings.PROMPT_MAX_CHARS
    )
    model_name = StrictCharField(
        required=False, allow_null=True, max_length=MODEL_NAME_MAX_LENGTH, validators=[no_control_characters]
    )

    def validate_group_by(self, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each field at most once.")
        return value


class RunPartitionSerializer(serializers.Serializer[Any]):
    group = serializers.DictField(child=TagValueField(allow_blank=True))


class RunViewSerializer(serializers.Serializer[Any]):
    # agent-memory-client 0.14 sends {"force": true}; the reference's newest body names the task.
    force = serializers.BooleanField(required=False, default=False)
    task_id = StrictCharField(
        required=False, allow_null=True, max_length=TASK_ID_MAX_LENGTH, validators=[no_control_characters]
    )


class PartitionQuerySerializer(serializers.Serializer[Any]):
    namespace = TagValueField(required=False)
    user_id = TagValueField(required=False)
    session_id = TagValueField(required=False)
    memory_type = TagValueField(required=False)


class SummaryViewOutputSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    source = serializers.CharField()  # type: ignore[assignment]  # as above
    group_by = serializers.ListField(child=serializers.CharField())
    filters = serializers.DictField()
    time_window_days = serializers.IntegerField(allow_null=True)
    continuous = serializers.BooleanField()
    prompt = serializers.CharField(allow_null=True)
    model_name = serializers.CharField(allow_null=True)


class PartitionOutputSerializer(serializers.Serializer[Any]):
    view_id = serializers.CharField()
    group = serializers.DictField(child=serializers.CharField(allow_blank=True))
    summary = serializers.CharField(allow_blank=True)
    memory_count = serializers.IntegerField()
    empty = serializers.BooleanField()
    empty_reason = serializers.CharField(allow_null=True)
    computed_at = serializers.CharField()
    # Not in the reference: how it was written, and how many of the memories it read.
    kind = serializers.ChoiceField(choices=SummaryPartition.Kind.values)
    covered_count = serializers.IntegerField()


class TaskOutputSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    type = serializers.CharField()
    status = serializers.ChoiceField(choices=Task.Status.values)
    view_id = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()
    started_at = serializers.CharField(allow_null=True)
    completed_at = serializers.CharField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)
    # Not in the reference: progress of a full run.
    partitions_done = serializers.IntegerField()
    partitions_total = serializers.IntegerField()


def view_to_dict(view: SummaryView) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "source": view.source,
        "group_by": list(view.group_by),
        "filters": dict(view.filters or {}),
        "time_window_days": view.time_window_days,
        "continuous": view.continuous,
        "prompt": view.prompt,
        "model_name": view.model_name,
    }


def partition_to_dict(partition: SummaryPartition) -> dict[str, Any]:
    empty = partition.memory_count == 0
    return {
        "view_id": partition.view_id,
        "group": dict(partition.group),
        "summary": partition.summary,
        "memory_count": partition.memory_count,
        "empty": empty,
        "empty_reason": "no_matching_memories" if empty else None,
        "computed_at": datetime_encode(partition.computed_at),
        "kind": partition.kind,
        "covered_count": partition.covered_count,
    }


def task_to_dict(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "type": task.type,
        "status": task.status,
        "view_id": task.view_id,
        "created_at": datetime_encode(task.created_at),
        "started_at": datetime_encode(task.started_at) if task.started_at else None,
        "completed_at": datetime_encode(task.completed_at) if task.completed_at else None,
        "error_message": task.error_message,
        "partitions_done": task.partitions_done,
        "partitions_total": task.partitions_total,
    }
