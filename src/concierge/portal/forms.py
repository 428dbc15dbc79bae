"""Portal forms: they parse and render input; the domain actions validate it for real."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.html import escape

from concierge.core.errors import ConciergeError
from concierge.tickets.actions import NewAttachment
from concierge.tickets.models import CustomField, FieldType

CUSTOM_FIELD_PREFIX = "cf_"


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of files (``<input type=file multiple>``); cleans to a list."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def describe_limits(self) -> None:
        """Names the current limits in the help text and for the browser-side size check."""
        limit_mb = settings.ATTACHMENT_MAX_BYTES / (1024 * 1024)
        self.widget.attrs["data-max-bytes"] = settings.ATTACHMENT_MAX_BYTES
        self.help_text = (
            f"Optional. Up to {settings.ATTACHMENT_MAX_PER_ENTRY} files, {limit_mb:.0f} MB each."
        )

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = data if isinstance(data, (list, tuple)) else [data] if data else []
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class _UploadedAttachment(NewAttachment):
    """A file read at most one byte past the limit; ``size`` still reports its real size.

    Reading a huge upload whole only to refuse it would cost its size in
    memory; the domain check needs the size, not the bytes.
    """

    def __init__(self, *, filename: str, content: bytes, content_type: str, size: int) -> None:
        super().__init__(filename=filename, content=content, content_type=content_type)
        object.__setattr__(self, "_size", size)

    @property
    def size(self) -> int:
        return max(int(getattr(self, "_size", 0)), len(self.content))


def to_attachments(files: Iterable[UploadedFile]) -> list[NewAttachment]:
    """Uploaded files as the domain's ``NewAttachment`` values."""
    attachments: list[NewAttachment] = []
    for upload in files:
        upload.seek(0)
        attachments.append(
            _UploadedAttachment(
                filename=upload.name or "attachment",
                content=upload.read(settings.ATTACHMENT_MAX_BYTES + 1),
                content_type=upload.content_type or "",
                size=upload.size or 0,
            )
        )
    return attachments


class PortalForm(forms.Form):
    """A form that can show a domain error next to the fields it names."""

    field_name_map: dict[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        # Limits are read per form, not at import, so settings changes apply.
        for field in self.fields.values():
            if isinstance(field, MultipleFileField):
                field.describe_limits()

    def add_domain_error(self, error: ConciergeError) -> None:
        for name, messages in error.field_errors.items():
            target = self.field_name_map.get(name, name)
            if target not in self.fields:
                target = CUSTOM_FIELD_PREFIX + name
            if target in self.fields:
                for message in messages:
                    self.add_error(target, message)
        self.add_error(None, error.message)


# --- signing in --------------------------------------------------------------


class SignUpForm(PortalForm):
    name = forms.CharField(
        label="Your name",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not only digits, not a common password.",
    )


class SignInForm(PortalForm):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class MagicLinkForm(PortalForm):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


# --- requests ------------------------------------------------------------------


def _form_field_for(field: CustomField) -> forms.Field:
    """The form field that renders and parses a custom field of the given type."""
    common: dict[str, Any] = {
        "label": field.label,
        "required": False,
        # Django's field template marks help text safe: escape what the admin typed.
        "help_text": escape(field.description),
    }
    choices = [(str(choice), str(choice)) for choice in field.choices or []]
    if field.field_type == FieldType.NUMBER:
        return forms.DecimalField(widget=forms.NumberInput(attrs={"step": "any"}), **common)
    if field.field_type == FieldType.DROPDOWN:
        return forms.ChoiceField(choices=[("", "Choose…"), *choices], **common)
    if field.field_type == FieldType.MULTI_SELECT:
        return forms.MultipleChoiceField(
            choices=choices, widget=forms.CheckboxSelectMultiple, **common
        )
    if field.field_type == FieldType.CHECKBOX:
        return forms.BooleanField(**common)
    if field.field_type == FieldType.DATE:
        return forms.DateField(
            widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}), **common
        )
    return forms.CharField(max_length=2000, **common)


def _domain_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if value in ("", []):
        return None
    return value


class NewRequestForm(PortalForm):
    subject = forms.CharField(
        label="Subject",
        max_length=255,
        help_text="A few words that sum up your question.",
    )
    description = forms.CharField(
        label="Description",
        widget=forms.Textarea(attrs={"rows": 8}),
        strip=False,
        help_text="What happened, what you expected, and anything you already tried.",
    )
    attachments = MultipleFileField(label="Attachments")
    field_name_map = {"body": "description"}

    def __init__(self, *args: Any, custom_fields: Iterable[CustomField] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.custom_fields = list(custom_fields)
        for field in self.custom_fields:
            self.fields[CUSTOM_FIELD_PREFIX + field.key] = _form_field_for(field)

    def custom_field_boundfields(self) -> list[forms.BoundField]:
        return [self[CUSTOM_FIELD_PREFIX + field.key] for field in self.custom_fields]

    def custom_field_values(self) -> dict[str, Any]:
        """The custom field answers, keyed by field key, as the domain expects them."""
        return {
            field.key: _domain_value(self.cleaned_data.get(CUSTOM_FIELD_PREFIX + field.key))
            for field in self.custom_fields
        }


class ReplyForm(PortalForm):
    body = forms.CharField(
        label="Your reply",
        widget=forms.Textarea(attrs={"rows": 5}),
        strip=False,
        required=False,
    )
    attachments = MultipleFileField(label="Attachments")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not str(cleaned.get("body", "")).strip() and not cleaned.get("attachments"):
            self.add_error("body", "Write a message or attach a file.")
        return cleaned


class FollowUpForm(PortalForm):
    body = forms.CharField(
        label="What else do you need?",
        widget=forms.Textarea(attrs={"rows": 5}),
        strip=False,
    )
    attachments = MultipleFileField(label="Attachments")
