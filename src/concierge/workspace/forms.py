"""Forms of the agent workspace: they parse and render input, the domain validates it.

Fields here check only shape (types, lengths the HTML can express); every
business rule (who may do what, which values are allowed) stays in the
domain actions, whose errors are copied back onto these forms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from django import forms
from django.contrib.auth.forms import PasswordResetForm
from django.core.files.uploadedfile import UploadedFile

from concierge.accounts.models import STAFF_ROLES, Availability, Role, Team, User
from concierge.core import policy
from concierge.core.errors import ConciergeError
from concierge.customers.models import Organization
from concierge.tickets.actions import NewAttachment
from concierge.tickets.models import Channel, CustomField, FieldType, Priority, Status
from concierge.tickets.services import AVAILABLE_COLUMNS, SORTS

AVATAR_MAX_BYTES = 2 * 1024 * 1024
SORT_LABELS = {
    "-updated_at": "Recently updated",
    "updated_at": "Least recently updated",
    "-created_at": "Newest first",
    "created_at": "Oldest first",
}


FIELD_TEMPLATE = "workspace/_field.html"


def set_choices(form: forms.Form, name: str, choices: Sequence[tuple[Any, str]]) -> None:
    """Sets the options of a choice field built at request time (agents, teams ...)."""
    cast(Any, form.fields[name]).choices = list(choices)


def apply_error(form: forms.Form, error: ConciergeError) -> None:
    """Copies a domain error onto a form: field errors where they belong, the message on top."""
    form.add_error(None, error.message)
    for name, messages in error.field_errors.items():
        target = name if name in form.fields else None
        for message in messages:
            if target is None:
                form.add_error(None, f"{name}: {message}")
            else:
                form.add_error(target, message)


def split_tags(text: str) -> list[str]:
    """Tags typed as 'billing, vip urgent' -> ['billing', 'vip', 'urgent']."""
    return [part for part in text.replace(",", " ").split() if part]


def to_attachments(files: Iterable[UploadedFile]) -> list[NewAttachment]:
    """Uploaded files as the domain's NewAttachment values (read into memory, size-bounded)."""
    return [
        NewAttachment(
            filename=upload.name or "attachment",
            content=upload.read(),
            content_type=upload.content_type or "",
        )
        for upload in files
    ]


class WorkspaceForm(forms.Form):
    """Renders each field through the workspace's field template (label, hint, errors in a box)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            cast(Any, field).template_name = FIELD_TEMPLATE


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Accepts several files from one input; returns a list (empty when none)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        if not data:
            return []
        items = data if isinstance(data, (list, tuple)) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items]


# --- sign-in and profile ---------------------------------------------------


class SignInForm(WorkspaceForm):
    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = forms.CharField(
        label="Password",
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class StaffPasswordResetForm(PasswordResetForm):
    """Django's reset form, sending mail only to staff (customers reset in the portal)."""

    def get_users(self, email: str) -> Iterable[Any]:
        # Unlike Django's form, agents invited without a password may use it:
        # choosing a first password through this link is how an invitation works.
        candidates = User.objects.filter(email__iexact=email.strip(), is_active=True)
        return (user for user in candidates if policy.is_staff(user))


class ProfileForm(WorkspaceForm):
    name = forms.CharField(label="Name", max_length=200)
    avatar = forms.ImageField(
        label="Avatar", required=False, help_text="PNG, JPEG or GIF, at most 2 MB."
    )
    signature = forms.CharField(
        label="Signature",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Added below your public replies.",
    )
    availability = forms.ChoiceField(label="Availability", choices=Availability.choices)
    notify_on_assignment = forms.BooleanField(
        label="Email me when a ticket is assigned to me", required=False
    )
    notify_on_customer_reply = forms.BooleanField(
        label="Email me when a customer replies", required=False
    )
    notify_on_mention = forms.BooleanField(
        label="Email me when someone @mentions me", required=False
    )

    def clean_avatar(self) -> Any:
        avatar = self.cleaned_data.get("avatar")
        if avatar and getattr(avatar, "size", 0) > AVATAR_MAX_BYTES:
            raise forms.ValidationError("The avatar is larger than 2 MB.")
        return avatar

    def changes(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if not data.get("avatar"):
            data.pop("avatar", None)
        return data


class ApiTokenForm(WorkspaceForm):
    name = forms.CharField(label="Token name", max_length=100, help_text="e.g. 'Reporting script'.")


# --- tickets ----------------------------------------------------------------


def _agent_choices(agents: Sequence[User], *, empty: str) -> list[tuple[str, str]]:
    return [("", empty)] + [(str(agent.pk), agent.name or agent.email) for agent in agents]


def _team_choices(teams: Sequence[Team], *, empty: str) -> list[tuple[str, str]]:
    return [("", empty)] + [(str(team.pk), team.name) for team in teams]


def custom_field_form_field(field: CustomField) -> forms.Field:
    """The form field for one custom field type (all optional; the domain checks the rest)."""
    common: dict[str, Any] = {
        "label": field.label,
        "required": False,
        "help_text": field.description,
    }
    if field.field_type == FieldType.NUMBER:
        return forms.CharField(widget=forms.NumberInput(attrs={"step": "any"}), **common)
    if field.field_type == FieldType.DROPDOWN:
        return forms.ChoiceField(choices=[("", "—")] + [(c, c) for c in field.choices], **common)
    if field.field_type == FieldType.MULTI_SELECT:
        return forms.MultipleChoiceField(
            choices=[(c, c) for c in field.choices], widget=forms.CheckboxSelectMultiple, **common
        )
    if field.field_type == FieldType.CHECKBOX:
        return forms.BooleanField(**common)
    if field.field_type == FieldType.DATE:
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    return forms.CharField(max_length=2000, **common)


def custom_field_initial(field: CustomField, value: Any) -> Any:
    if value is None:
        return [] if field.field_type == FieldType.MULTI_SELECT else ""
    return value


class CustomFieldsMixin:
    """Adds one form field per active custom field, named ``cf_<key>``."""

    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def add_custom_fields(
        self, custom_fields: Sequence[CustomField], values: dict[str, Any]
    ) -> None:
        self.custom_field_defs = list(custom_fields)
        for field in self.custom_field_defs:
            form_field = custom_field_form_field(field)
            form_field.initial = custom_field_initial(field, values.get(field.key))
            cast(Any, form_field).template_name = FIELD_TEMPLATE
            self.fields[f"cf_{field.key}"] = form_field

    def custom_field_bound(self) -> list[Any]:
        return [self[f"cf_{field.key}"] for field in self.custom_field_defs]  # type: ignore[index]

    def custom_field_values(self, current: dict[str, Any]) -> dict[str, Any]:
        """Submitted values by key; an unticked checkbox that was never set is left alone."""
        values: dict[str, Any] = {}
        for field in self.custom_field_defs:
            value = self.cleaned_data.get(f"cf_{field.key}")
            if field.field_type == FieldType.CHECKBOX and not value and not current.get(field.key):
                continue
            values[field.key] = value
        return values


class ComposerForm(WorkspaceForm):
    KIND_CHOICES = [("reply", "Public reply"), ("note", "Internal note")]
    STATUS_AFTER_CHOICES = [
        ("", "Keep status"),
        (Status.PENDING, "Pending"),
        (Status.SOLVED, "Solved"),
    ]

    kind = forms.ChoiceField(choices=KIND_CHOICES, initial="reply", widget=forms.RadioSelect)
    body = forms.CharField(
        label="Message",
        required=False,
        max_length=100_000,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "placeholder": "Write in markdown. Mention a teammate with @name in a note.",
            }
        ),
    )
    attachments = MultipleFileField(label="Attachments")
    status_after = forms.ChoiceField(
        label="Submit as", choices=STATUS_AFTER_CHOICES, required=False
    )
    # The newest entry the page showed (collision detection in add_entry).
    seen_last_entry_id = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: Any, can_reply: bool = True, can_update: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not can_reply:
            set_choices(self, "kind", [("note", "Internal note")])
            self.fields["kind"].initial = "note"
        if not can_update:
            del self.fields["status_after"]


class PropertiesForm(CustomFieldsMixin, WorkspaceForm):
    status = forms.ChoiceField(label="Status", choices=Status.choices)
    priority = forms.ChoiceField(label="Priority", choices=Priority.choices)
    assignee = forms.ChoiceField(label="Assignee", required=False)
    team = forms.ChoiceField(label="Team", required=False)
    tags = forms.CharField(
        label="Tags", required=False, max_length=2000, help_text="Separate with spaces or commas."
    )
    due_at = forms.DateTimeField(
        label="Due (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    ccs = forms.CharField(
        label="CCs",
        required=False,
        max_length=4000,
        help_text="Customer emails, separated by commas.",
    )

    def __init__(
        self,
        *args: Any,
        agents: Sequence[User],
        teams: Sequence[Team],
        custom_fields: Sequence[CustomField],
        values: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "assignee", _agent_choices(agents, empty="Unassigned"))
        set_choices(self, "team", _team_choices(teams, empty="No team"))
        self.agents_by_id = {str(agent.pk): agent for agent in agents}
        self.teams_by_id = {str(team.pk): team for team in teams}
        self.add_custom_fields(custom_fields, values)

    def clean_due_at(self) -> datetime | None:
        value: datetime | None = self.cleaned_data.get("due_at")
        if value is not None:
            # The input is a naive local time; the workspace shows and takes due dates in UTC.
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value

    def cc_emails(self) -> list[str]:
        return [
            part.strip().lower()
            for part in self.cleaned_data.get("ccs", "").split(",")
            if part.strip()
        ]


class NewTicketForm(CustomFieldsMixin, WorkspaceForm):
    subject = forms.CharField(label="Subject", max_length=255)
    body = forms.CharField(
        label="Description", max_length=100_000, widget=forms.Textarea(attrs={"rows": 8})
    )
    channel = forms.ChoiceField(
        label="Received by", choices=[(Channel.PHONE, "Phone"), (Channel.WEB, "Agent workspace")]
    )
    priority = forms.ChoiceField(
        label="Priority", choices=Priority.choices, initial=Priority.NORMAL
    )
    assignee = forms.ChoiceField(label="Assignee", required=False)
    team = forms.ChoiceField(label="Team", required=False)
    tags = forms.CharField(
        label="Tags", required=False, max_length=2000, help_text="Separate with spaces or commas."
    )
    attachments = MultipleFileField(label="Attachments")

    def __init__(
        self,
        *args: Any,
        agents: Sequence[User],
        teams: Sequence[Team],
        custom_fields: Sequence[CustomField],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "assignee", _agent_choices(agents, empty="Unassigned"))
        set_choices(self, "team", _team_choices(teams, empty="No team"))
        self.agents_by_id = {str(agent.pk): agent for agent in agents}
        self.teams_by_id = {str(team.pk): team for team in teams}
        self.add_custom_fields(custom_fields, {})


BULK_ACTIONS = ["assign", "status", "priority", "team", "add_tags", "remove_tags", "merge"]


class BulkForm(WorkspaceForm):
    ticket_ids = forms.TypedMultipleChoiceField(coerce=int, choices=[])
    action = forms.ChoiceField(choices=[(a, a) for a in BULK_ACTIONS])
    assignee = forms.ChoiceField(label="Assignee", required=False)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Status…"), *Status.choices]
    )
    priority = forms.ChoiceField(
        label="Priority", required=False, choices=[("", "Priority…"), *Priority.choices]
    )
    team = forms.ChoiceField(label="Team", required=False)
    tags = forms.CharField(label="Tags", required=False, max_length=2000)
    merge_target = forms.TypedChoiceField(
        label="Merge into", required=False, coerce=int, empty_value=None
    )

    def __init__(
        self, *args: Any, agents: Sequence[User], teams: Sequence[Team], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        set_choices(
            self,
            "assignee",
            [("", "Assignee…"), ("none", "Unassigned")]
            + [(str(agent.pk), agent.name or agent.email) for agent in agents],
        )
        set_choices(
            self,
            "team",
            [("", "Team…"), ("none", "No team")] + [(str(team.pk), team.name) for team in teams],
        )
        # Any number is accepted here; the page lists ids and the service checks each.
        raw_ids = self.data.getlist("ticket_ids") if hasattr(self.data, "getlist") else []
        id_choices = [(value, value) for value in raw_ids[:100] if str(value).isdigit()]
        set_choices(self, "ticket_ids", id_choices)
        set_choices(self, "merge_target", [("", "—"), *id_choices])
        self.agents_by_id = {str(agent.pk): agent for agent in agents}
        self.teams_by_id = {str(team.pk): team for team in teams}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        needed = {
            "assign": "assignee",
            "status": "status",
            "priority": "priority",
            "team": "team",
            "add_tags": "tags",
            "remove_tags": "tags",
            "merge": "merge_target",
        }
        if action in needed and not data.get(needed[action]):
            self.add_error(needed[action], "Choose a value for this action.")
        return data

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        action = data["action"]
        if action == "assign":
            return {
                "assignee": None
                if data["assignee"] == "none"
                else self.agents_by_id.get(data["assignee"])
            }
        if action == "team":
            return {"team": None if data["team"] == "none" else self.teams_by_id.get(data["team"])}
        if action in ("status", "priority"):
            return {action: data[action]}
        if action in ("add_tags", "remove_tags"):
            return {action: split_tags(data["tags"])}
        return {}


# --- inbox filters and personal views ----------------------------------------

# The filters the inbox's filter bar sets; a view's other filters (custom fields,
# excluded tags ...) stay as the view has them.
INBOX_FILTER_KEYS = ("status", "priority", "channel", "assignee", "team", "tags", "predictions")
# AI triage filters in the bar: (field name, prediction kind).
PREDICTION_FILTER_FIELDS = (
    ("prediction_intent", "intent"),
    ("prediction_sentiment", "sentiment"),
    ("prediction_urgency", "urgency"),
    ("prediction_language", "language"),
)


def _filter_list(value: Any) -> list[str]:
    """A saved filter value (a list, or a comma-separated string) as a list of strings."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [part for part in value.split(",") if part]
    return [str(part) for part in value]


class InboxFilterForm(WorkspaceForm):
    """The inbox's filter bar, sent in the query string (and with "Save as my view").

    Shown filled with the current view's filters: what it submits replaces those
    six filters of the view, so the bar always shows what the list is filtered on.
    The ``filtered`` marker tells a submitted bar (where an empty field means
    "any") from a plain visit to the view.
    """

    MARKER = "filtered"

    status = forms.MultipleChoiceField(
        label="Status",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[("unsolved", "Any unsolved"), *Status.choices],
    )
    priority = forms.MultipleChoiceField(
        label="Priority",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=Priority.choices,
    )
    channel = forms.MultipleChoiceField(
        label="Channel",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=Channel.choices,
    )
    assignee = forms.ChoiceField(label="Assignee", required=False)
    team = forms.ChoiceField(label="Team", required=False)
    tags = forms.CharField(
        label="Has all tags",
        required=False,
        max_length=2000,
        help_text="Separate with spaces or commas.",
    )
    prediction_intent = forms.ChoiceField(label="Predicted intent", required=False)
    prediction_sentiment = forms.ChoiceField(label="Sentiment", required=False)
    prediction_urgency = forms.ChoiceField(label="Urgency", required=False)
    prediction_language = forms.CharField(
        label="Language", required=False, max_length=16, help_text="A code such as en or fr."
    )

    def __init__(
        self,
        data: Any = None,
        *,
        view_filters: dict[str, Any],
        agents: Sequence[User],
        teams: Sequence[Team],
        **kwargs: Any,
    ) -> None:
        is_submitted = data is not None and self.MARKER in data
        kwargs.setdefault("auto_id", "filter_%s")
        super().__init__(
            data if is_submitted else None, initial=self.initial_from(view_filters), **kwargs
        )
        self.view_filters = dict(view_filters or {})
        set_choices(
            self,
            "assignee",
            [("", "Anyone"), ("me", "Me"), ("none", "Unassigned")]
            + [(str(agent.pk), agent.name or agent.email) for agent in agents],
        )
        set_choices(
            self,
            "team",
            [("", "Any team"), ("mine", "My teams"), ("none", "No team")]
            + [(str(team.pk), team.name) for team in teams],
        )
        from concierge.ai.services import display_label, label_choices

        for name, kind in PREDICTION_FILTER_FIELDS[:3]:
            set_choices(
                self, name, [("", "Any")] + [(c, display_label(c)) for c in label_choices(kind)]
            )

    @staticmethod
    def initial_from(filters: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": _filter_list(filters.get("status")),
            "priority": _filter_list(filters.get("priority")),
            "channel": _filter_list(filters.get("channel")),
            "assignee": str(filters.get("assignee") or ""),
            "team": str(filters.get("team") or ""),
            "tags": " ".join(_filter_list(filters.get("tags"))),
            **{
                name: str((filters.get("predictions") or {}).get(kind) or "")
                for name, kind in PREDICTION_FILTER_FIELDS
            },
        }

    def filters(self) -> dict[str, Any]:
        """The view's filters with the bar's six replaced by what was submitted."""
        if not self.is_bound:
            return dict(self.view_filters)
        merged = {k: v for k, v in self.view_filters.items() if k not in INBOX_FILTER_KEYS}
        data = self.cleaned_data
        submitted: dict[str, Any] = {
            "status": data["status"],
            "priority": data["priority"],
            "channel": data["channel"],
            "assignee": data["assignee"],
            "team": data["team"],
            "tags": split_tags(data["tags"]),
            "predictions": {
                kind: data[name].strip() for name, kind in PREDICTION_FILTER_FIELDS if data[name]
            },
        }
        return {**merged, **{key: value for key, value in submitted.items() if value}}

    def query_params(self) -> list[tuple[str, str]]:
        """The submitted bar as (name, value) pairs, to carry into links and other forms."""
        if not self.is_bound or not self.is_valid():
            return []
        data = self.cleaned_data
        params = [(self.MARKER, "1")]
        for key in ("status", "priority", "channel"):
            params.extend((key, value) for value in data[key])
        params.extend((key, data[key]) for key in ("assignee", "team", "tags") if data[key])
        params.extend((name, data[name]) for name, _ in PREDICTION_FILTER_FIELDS if data[name])
        return params


class PersonalViewNameForm(WorkspaceForm):
    name = forms.CharField(label="View name", max_length=100)


# --- customers ----------------------------------------------------------------


class CustomerForm(WorkspaceForm):
    name = forms.CharField(label="Name", max_length=200)
    organization = forms.ChoiceField(label="Organization", required=False)
    language = forms.CharField(label="Language", max_length=16, required=False)
    time_zone = forms.CharField(label="Time zone", max_length=64, required=False)
    notes = forms.CharField(
        label="Notes", max_length=10_000, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    tags = forms.CharField(
        label="Tags", required=False, max_length=2000, help_text="Separate with spaces or commas."
    )

    def __init__(self, *args: Any, organizations: Sequence[Organization], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organizations_by_id = {str(org.pk): org for org in organizations}
        set_choices(
            self,
            "organization",
            [("", "None")] + [(str(org.pk), org.name) for org in organizations],
        )

    def changes(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["organization"] = self.organizations_by_id.get(data.get("organization") or "")
        # A post without the tags field (an older page, a script) leaves the tags alone
        # rather than clearing them; the domain normalizes what is typed.
        if "tags" in self.data:
            data["tags"] = split_tags(data.get("tags", ""))
        else:
            data.pop("tags", None)
        return data


class MergeCustomerForm(WorkspaceForm):
    target = forms.CharField(
        label="Merge into customer",
        max_length=320,
        help_text="The surviving customer's ID or email address.",
    )


# --- settings ------------------------------------------------------------------


class AgentCreateForm(WorkspaceForm):
    name = forms.CharField(label="Name", max_length=200)
    email = forms.EmailField(label="Email", max_length=254)
    role = forms.ChoiceField(
        label="Role", choices=[(r.value, r.label) for r in STAFF_ROLES], initial=Role.AGENT
    )
    send_invite = forms.BooleanField(
        label="Email a link to choose a password", required=False, initial=True
    )


class AgentUpdateForm(WorkspaceForm):
    role = forms.ChoiceField(label="Role", choices=[(r.value, r.label) for r in STAFF_ROLES])
    capacity = forms.IntegerField(label="Capacity", min_value=0, max_value=10_000)
    is_active = forms.BooleanField(label="Active", required=False)


class TeamForm(WorkspaceForm):
    name = forms.CharField(label="Name", max_length=100)
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    members = forms.TypedMultipleChoiceField(
        label="Members", coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, agents: Sequence[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "members", [(agent.pk, agent.name or agent.email) for agent in agents])


def _lines(text: str) -> list[str]:
    """A textarea's non-empty lines, trimmed."""
    return [line.strip() for line in text.splitlines() if line.strip()]


class CustomFieldForm(WorkspaceForm):
    key = forms.CharField(
        label="Key", max_length=64, help_text="Used in the API and filters; cannot change later."
    )
    label = forms.CharField(label="Label", max_length=100)
    field_type = forms.ChoiceField(label="Type", choices=FieldType.choices)
    choices = forms.CharField(
        label="Options",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Dropdown and multi-select: one option per line.",
    )
    description = forms.CharField(label="Help text", required=False, max_length=255)
    is_required_on_solve = forms.BooleanField(label="Required to solve", required=False)
    is_customer_visible = forms.BooleanField(label="Visible to customers", required=False)
    is_active = forms.BooleanField(label="Active", required=False, initial=True)
    position = forms.IntegerField(label="Position", min_value=0, max_value=10_000, initial=0)
    detect_from_messages = forms.BooleanField(
        label="Detect from customers' messages",
        required=False,
        help_text="Dropdown and multi-select: AI triage fills the field, when it is empty, with "
        "the options a new ticket or customer message names (whole words, any case or accents).",
    )

    def __init__(
        self,
        *args: Any,
        options: Sequence[str] = (),
        phrases: dict[str, list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        """``options``: the saved field's options, each given a box of phrases that mean it."""
        super().__init__(*args, **kwargs)
        self.phrase_options = list(options)
        for index, option in enumerate(self.phrase_options):
            name = f"phrases_{index}"
            self.fields[name] = forms.CharField(
                label=option,
                required=False,
                max_length=20_000,
                widget=forms.Textarea(attrs={"rows": 2}),
                initial="\n".join((phrases or {}).get(option, [])),
            )
            cast(Any, self.fields[name]).template_name = FIELD_TEMPLATE

    def phrase_fields(self) -> list[Any]:
        return [self[f"phrases_{index}"] for index in range(len(self.phrase_options))]

    def action_kwargs(self) -> dict[str, Any]:
        data = {
            name: value
            for name, value in self.cleaned_data.items()
            if not name.startswith("phrases_")
        }
        data["choices"] = _lines(data.get("choices", ""))
        if self.phrase_options:
            # Phrases of an option removed in the same save go with it; those of a
            # renamed one follow it to its new name.
            renamed = self._renamed_options(data["choices"])
            phrases = {
                renamed.get(option, option): _lines(self.cleaned_data.get(f"phrases_{index}", ""))
                for index, option in enumerate(self.phrase_options)
                if option in data["choices"] or option in renamed
            }
            self._keep_old_names(renamed, phrases)
            data["detection_phrases"] = phrases
        return data

    def _renamed_options(self, choices: Sequence[str]) -> dict[str, str]:
        """Old name -> new name of the options renamed where they stood.

        Only a list of the same length can say which option became which: an
        option at the same place whose old name is gone and whose new name is
        new. Anything else (added, removed, moved) is not a rename.
        """
        if len(choices) != len(self.phrase_options):
            return {}
        return {
            old: new
            for old, new in zip(self.phrase_options, choices, strict=True)
            if old != new and old not in choices and new not in self.phrase_options
        }

    @staticmethod
    def _keep_old_names(renamed: dict[str, str], phrases: dict[str, list[str]]) -> None:
        """A renamed option's old name becomes one of its phrases: customers still say it
        ("iPhone 14" after a rename to "iPhone 14 (2022)"), unless it now means another option.
        """
        from concierge.ai.entities import words

        taken = {words(option) for option in phrases} | {
            words(phrase) for option_phrases in phrases.values() for phrase in option_phrases
        }
        for old, new in renamed.items():
            old_words = words(old)
            if old_words and old_words not in taken and old_words != words(new):
                phrases[new] = [*phrases[new], old]
                taken.add(old_words)

    def apply_domain_error(self, error: ConciergeError) -> None:
        """The domain's error on the form; phrase errors (they name their option) on top."""
        phrases = error.field_errors.get("detection_phrases", [])
        others = {k: v for k, v in error.field_errors.items() if k != "detection_phrases"}
        apply_error(self, type(error)(error.message, field_errors=others))
        for message in phrases:
            self.add_error(None, f"Phrases: {message}")


class SavedViewForm(WorkspaceForm):
    name = forms.CharField(label="Name", max_length=100)
    status = forms.MultipleChoiceField(
        label="Status",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[("unsolved", "Any unsolved"), *Status.choices],
    )
    priority = forms.MultipleChoiceField(
        label="Priority",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=Priority.choices,
    )
    channel = forms.MultipleChoiceField(
        label="Channel",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=Channel.choices,
    )
    assignee = forms.ChoiceField(label="Assignee", required=False)
    team = forms.ChoiceField(label="Team", required=False)
    tags = forms.CharField(label="Has all tags", required=False, max_length=2000)
    custom_field = forms.ChoiceField(label="Custom field", required=False)
    custom_value = forms.CharField(label="Custom field value", required=False, max_length=2000)
    sort = forms.ChoiceField(
        label="Sort", choices=[(key, SORT_LABELS.get(key, key)) for key in SORTS]
    )
    columns = forms.MultipleChoiceField(
        label="Columns",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=list(AVAILABLE_COLUMNS.items()),
    )
    position = forms.IntegerField(label="Position", min_value=0, max_value=10_000, initial=0)

    def __init__(
        self,
        *args: Any,
        agents: Sequence[User],
        teams: Sequence[Team],
        custom_fields: Sequence[CustomField],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        set_choices(
            self,
            "assignee",
            [
                ("", "Anyone"),
                ("me", "The viewer"),
                ("none", "Unassigned"),
            ]
            + [(str(agent.pk), agent.name or agent.email) for agent in agents],
        )
        set_choices(
            self,
            "team",
            [
                ("", "Any team"),
                ("mine", "The viewer's teams"),
                ("none", "No team"),
            ]
            + [(str(team.pk), team.name) for team in teams],
        )
        set_choices(self, "custom_field", [("", "—")] + [(f.key, f.label) for f in custom_fields])

    @staticmethod
    def initial_from(view: Any) -> dict[str, Any]:
        filters = dict(view.filters or {})
        custom = dict(filters.get("custom_fields") or {})
        key, value = next(iter(custom.items()), ("", ""))

        def as_list(value: Any) -> list[str]:
            return value.split(",") if isinstance(value, str) else list(value or [])

        return {
            "name": view.name,
            "status": as_list(filters.get("status")),
            "priority": as_list(filters.get("priority")),
            "channel": as_list(filters.get("channel")),
            "assignee": filters.get("assignee", ""),
            "team": filters.get("team", ""),
            "tags": " ".join(as_list(filters.get("tags"))),
            "custom_field": key,
            "custom_value": ""
            if value is None
            else str(value).lower()
            if isinstance(value, bool)
            else str(value),
            "sort": view.sort,
            "columns": list(view.columns or []),
            "position": view.position,
        }

    def action_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        filters: dict[str, Any] = {
            "status": data["status"],
            "priority": data["priority"],
            "channel": data["channel"],
            "assignee": data["assignee"],
            "team": data["team"],
            "tags": split_tags(data["tags"]),
        }
        if data.get("custom_field"):
            filters["custom_fields"] = {data["custom_field"]: data.get("custom_value", "")}
        return {
            "name": data["name"],
            "filters": {key: value for key, value in filters.items() if value},
            "sort": data["sort"],
            "columns": data["columns"],
            "position": data["position"],
        }
