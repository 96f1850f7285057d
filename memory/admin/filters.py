"""Changelist filters for memories. The value lists are computed in the database
(grouped, counted, capped), so a large table does not load into the sidebar."""

from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from memory.models import MemoryRecord, MemoryStatus
from memory.selectors.review import field_values, list_field_values, records_with_list_value, records_with_merges
from policies.models import Policy, Purpose

NONE_VALUE = "__none__"  # a record with no namespace or no user


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> Sequence[tuple[str, str]]:
        return MemoryStatus.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[MemoryRecord]) -> QuerySet[MemoryRecord]:
        value = self.value()
        return queryset.filter(status=value) if value in MemoryStatus.values else queryset


class _ScalarValuesFilter(admin.SimpleListFilter):
    """The most common values of a field, plus the selected one if it is rarer."""

    field_name = ""
    none_label = "(none)"

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> Sequence[tuple[str, str]]:
        choices = [
            (NONE_VALUE if value is None else value, self.none_label if value is None else f"{value} ({n})")
            for value, n in field_values(name=self.field_name)
        ]
        selected = self.value()
        if selected and selected not in {value for value, _ in choices}:
            choices.append((selected, self.none_label if selected == NONE_VALUE else selected))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[MemoryRecord]) -> QuerySet[MemoryRecord]:
        value = self.value()
        if value is None:
            return queryset
        if value == NONE_VALUE:
            return queryset.filter(**{f"{self.field_name}__isnull": True})
        return queryset.filter(**{self.field_name: value})


class NamespaceFilter(_ScalarValuesFilter):
    title = "namespace"
    parameter_name = "namespace"
    field_name = "namespace"
    none_label = "(no namespace)"


class UserFilter(_ScalarValuesFilter):
    title = "user"
    parameter_name = "user_id"
    field_name = "user_id"
    none_label = "(no user)"


class PolicyFilter(admin.SimpleListFilter):
    """The policy whose version extracted the record. A SimpleListFilter, because the
    admin's related-field filter hides itself (and stops filtering) with one policy."""

    title = "policy"
    parameter_name = "policy"

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> Sequence[tuple[str, str]]:
        extraction = Policy.objects.filter(purpose=Purpose.EXTRACTION)  # summary policies extract nothing
        return [(str(pk), name) for pk, name in extraction.order_by("name").values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[MemoryRecord]) -> QuerySet[MemoryRecord]:
        value = self.value() or ""
        return queryset.filter(extraction_run__policy_version__policy_id=int(value)) if value.isdigit() else queryset


class _ListValueFilter(admin.SimpleListFilter):
    """One value of a JSON list field (topics, entities)."""

    field_name = ""

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> Sequence[tuple[str, str]]:
        choices = [(value, f"{value} ({n})") for value, n in list_field_values(name=self.field_name)]
        selected = self.value()
        if selected and selected not in {value for value, _ in choices}:
            choices.append((selected, selected))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[MemoryRecord]) -> QuerySet[MemoryRecord]:
        value = self.value()
        return queryset if not value else records_with_list_value(queryset, name=self.field_name, value=value)


class TopicFilter(_ListValueFilter):
    title = "topic"
    parameter_name = "topic"
    field_name = "topics"


class EntityFilter(_ListValueFilter):
    title = "entity"
    parameter_name = "entity"
    field_name = "entities"


class HasMergesFilter(admin.SimpleListFilter):
    title = "has merges"
    parameter_name = "has_merges"

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> Sequence[tuple[str, str]]:
        return (("yes", "Yes: duplicates were merged into it"), ("no", "No"))

    def queryset(self, request: HttpRequest, queryset: QuerySet[MemoryRecord]) -> QuerySet[MemoryRecord]:
        if self.value() in ("yes", "no"):
            return records_with_merges(queryset, has=self.value() == "yes")
        return queryset
