"""Forms of the routing settings pages: they parse input; ``concierge.automation`` validates it."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from concierge.automation.models import WEEKDAYS, AssignmentStrategy, RuleEvent
from concierge.core.errors import ConciergeError

JSON_MAX_CHARS = 50_000
WEEKDAY_LABELS = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                     "Saturday", "Sunday"), strict=True))  # fmt: skip


class JsonField(forms.CharField):
    """A textarea holding a JSON document; the parsed value is what the domain validates."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "code-input"}),
        )
        super().__init__(max_length=JSON_MAX_CHARS, strip=True, **kwargs)

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"Not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
            ) from None


class RuleForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(max_length=500, required=False)
    events = forms.MultipleChoiceField(
        choices=RuleEvent.choices, widget=forms.CheckboxSelectMultiple, label="Runs when"
    )
    conditions = JsonField(
        required=False,
        help_text='{"all": [...]} or {"any": [...]}; empty means every ticket.',
    )
    actions = JsonField(help_text='A list, e.g. [{"type": "set_team", "team": 1}].')
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    @staticmethod
    def initial_for(rule: Any) -> dict[str, Any]:
        return {
            "name": rule.name,
            "description": rule.description,
            "events": rule.events,
            "conditions": json.dumps(rule.conditions, indent=2, ensure_ascii=False),
            "actions": json.dumps(rule.actions, indent=2, ensure_ascii=False),
            "is_active": rule.is_active,
        }


class RuleTestForm(forms.Form):
    ticket = forms.IntegerField(min_value=1, label="Ticket number")
    event = forms.ChoiceField(choices=RuleEvent.choices, initial=RuleEvent.TICKET_CREATED)


class TeamRoutingForm(forms.Form):
    strategy = forms.ChoiceField(choices=AssignmentStrategy.choices)
    require_skill_match = forms.BooleanField(required=False, label="Wait for a matching skill")


class AgentSkillsForm(forms.Form):
    skills = forms.CharField(
        max_length=2000, required=False, help_text="Comma-separated, e.g. billing, refunds"
    )
    languages = forms.CharField(max_length=200, required=False, help_text="Codes, e.g. en, fr")


class BusinessHoursForm(forms.Form):
    """One text field per weekday: ``09:00-12:00, 13:00-17:00``; empty is closed."""

    name = forms.CharField(max_length=120)
    timezone = forms.CharField(
        max_length=64, initial="UTC", help_text="IANA name, e.g. Europe/Paris"
    )
    holidays = forms.CharField(
        max_length=5000, required=False, help_text="Closed dates, YYYY-MM-DD, comma-separated"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for day in WEEKDAYS:
            self.fields[day] = forms.CharField(
                max_length=200, required=False, label=WEEKDAY_LABELS[day],
                widget=forms.TextInput(attrs={"placeholder": "closed"}),
            )  # fmt: skip

    def day_fields(self) -> list[Any]:
        return [self[day] for day in WEEKDAYS]

    def schedule(self) -> dict[str, Any]:
        """Weekday text as the domain's schedule: each day a list of [start, end] strings."""
        schedule: dict[str, Any] = {}
        for day in WEEKDAYS:
            text = self.cleaned_data.get(day, "").strip()
            if text:
                schedule[day] = [
                    [part.strip() for part in interval.split("-", 1)]
                    if "-" in interval else [interval.strip()]
                    for interval in text.split(",") if interval.strip()
                ]  # fmt: skip
        return schedule

    def holiday_list(self) -> list[str]:
        return [
            part.strip()
            for part in self.cleaned_data.get("holidays", "").split(",")
            if part.strip()
        ]

    @staticmethod
    def initial_for(hours: Any) -> dict[str, Any]:
        initial = {
            "name": hours.name,
            "timezone": hours.timezone,
            "holidays": ", ".join(hours.holidays),
        }
        for day in WEEKDAYS:
            initial[day] = ", ".join(f"{start}-{end}" for start, end in hours.schedule.get(day, []))
        return initial


def apply_domain_error(form: forms.Form, error: ConciergeError) -> None:
    """Puts a domain error on the form; ``conditions.all.0.value`` lands on ``conditions``."""
    form.add_error(None, error.message)
    for path, messages in error.field_errors.items():
        field = path.split(".")[0]
        if field == "schedule":
            field = "__all__"
        target = field if field in form.fields else None
        for message in messages:
            detail = message if target and path == field else f"{path}: {message}"
            form.add_error(target, detail)
