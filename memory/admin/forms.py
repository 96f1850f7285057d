"""Forms of the review desk. They only validate and shape input; the admin hands the
cleaned values to the review services."""

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError

from memory.models import MemoryRecord, MemoryStatus
from memory.services.review import REJECT_REASONS

# The fields the admin's edit forms show (what a person corrects by hand; the rest is the
# record's provenance): a part of EDITABLE_FIELDS, which the edit service checks.
FORM_FIELDS = ("text", "topics", "entities", "event_date", "pinned")


class ListField(forms.CharField):
    """A list of short strings typed as "a, b, c" (a reviewer should not have to write JSON)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Comma-separated.")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    # A list where CharField gives a str: the field turns the typed "a, b" into its items.
    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        parts = (part.strip() for part in (value or "").split(","))
        return list(dict.fromkeys(part for part in parts if part))

    def has_changed(self, initial: Any, data: Any) -> bool:
        return list(initial or []) != self.to_python(data)


class MemoryRecordForm(forms.ModelForm[MemoryRecord]):
    """The change page: the reviewer's fields, plus the status as a decision with a reason."""

    topics = ListField()
    entities = ListField()
    status = forms.ChoiceField(choices=MemoryStatus.choices)
    reject_reason = forms.CharField(
        required=False,
        max_length=500,
        help_text="Needed when you reject: " + "; ".join(REJECT_REASONS) + ", or your own words.",
        widget=forms.TextInput(attrs={"list": "reject-reason-choices", "size": 60}),
    )

    class Meta:
        model = MemoryRecord
        fields = (*FORM_FIELDS, "status")
        widgets = {"text": forms.Textarea(attrs={"rows": 4, "cols": 90})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The services decide, they do not put a record back in the queue: pending is
        # offered only while the record is pending.
        current = self.instance.status if self.instance.pk else MemoryStatus.PENDING
        cast(forms.ChoiceField, self.fields["status"]).choices = [
            (value, label)
            for value, label in MemoryStatus.choices
            if value != MemoryStatus.PENDING or current == MemoryStatus.PENDING
        ]

    def clean_text(self) -> str:
        text: str = self.cleaned_data["text"]
        if not text.strip():
            raise ValidationError("The text cannot be empty.")
        return text

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean() returns
        rejecting = "status" in self.changed_data and cleaned.get("status") == MemoryStatus.REJECTED
        if rejecting and not (cleaned.get("reject_reason") or "").strip():
            self.add_error("reject_reason", "Say why you reject it: pick a reason or type one.")
        return cleaned

    def review_changes(self) -> dict[str, Any]:
        """The edits to hand to memory_edit: the reviewer's fields that changed."""
        return {name: self.cleaned_data[name] for name in FORM_FIELDS if name in self.changed_data}


class ReviewEditForm(forms.Form):
    """Edit in place on the review view."""

    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), strip=True)
    topics = ListField()
    entities = ListField()
    event_date = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    pinned = forms.BooleanField(required=False)

    @classmethod
    def for_record(cls, record: MemoryRecord) -> "ReviewEditForm":
        event_date = record.event_date.strftime("%Y-%m-%dT%H:%M") if record.event_date else ""
        return cls(
            initial={
                "text": record.text,
                "topics": record.topics,
                "entities": record.entities,
                "event_date": event_date,
                "pinned": record.pinned,
            },
            auto_id="edit-%s",
        )

    def changes_from(self, record: MemoryRecord) -> dict[str, Any]:
        """The fields whose submitted value differs from the record's."""
        changes: dict[str, Any] = {}
        for name in FORM_FIELDS:
            value = self.cleaned_data[name]
            current = getattr(record, name)
            if name == "event_date" and value and current:
                # The datetime-local input has minutes only: seconds are not an edit.
                same = value.replace(second=0, microsecond=0) == current.replace(second=0, microsecond=0)
            else:
                same = value == current
            if not same:
                changes[name] = value
        return changes


class RejectForm(forms.Form):
    """A canned reason (a button) or the reviewer's own words; their own words win."""

    reason_choice = forms.CharField(required=False, max_length=500)
    reason_other = forms.CharField(required=False, max_length=500)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean() returns
        reason = (cleaned.get("reason_other") or "").strip() or (cleaned.get("reason_choice") or "").strip()
        if not reason:
            raise ValidationError("Pick a reason or type one.")
        cleaned["reason"] = reason
        return cleaned
