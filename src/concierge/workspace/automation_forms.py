"""Forms of the routing settings pages: they parse input; ``concierge.automation`` validates it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django import forms

from concierge.automation import rules
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


# --- the rule builder: conditions and actions as rows of plain fields ----------------------------

CONDITION_PARTS = ("field", "operator", "value", "key", "min_confidence")
ACTION_PARTS = (
    "type", "team", "priority", "tags", "key", "value", "agent", "recipients", "via", "message",
    "reason",
)  # fmt: skip
# Which parts of an action row each action type reads (the rest of the row is ignored).
ACTION_USES: dict[str, tuple[str, ...]] = {
    "set_team": ("team",),
    "set_priority": ("priority",),
    "add_tags": ("tags",),
    "remove_tags": ("tags",),
    "set_custom_field": ("key", "value"),
    "assign": ("agent",),
    "notify": ("recipients", "via", "message"),
    "escalate": ("team", "priority"),
    "hide_content": ("reason",),
    "stop": (),
}
ALL_OPERATORS = tuple(dict.fromkeys(op for ops, _ in rules.FIELDS.values() for op in ops))
BUILDER_MAX_ROWS = 30


@dataclass
class BuilderRow:
    """One condition or action as the form shows it: text per part, errors per part."""

    index: int
    values: dict[str, str]
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def row_errors(self) -> list[str]:
        return self.errors.get("", [])


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _as_id(text: str) -> Any:
    """A number typed into an id field becomes an int; anything else stays for the domain
    to refuse with its own message."""
    return int(text) if text.isdigit() else text


def _condition_value(field_name: str, operator: str, text: str) -> Any:
    kind = rules.FIELDS.get(field_name, ((), "text"))[1]
    is_id = kind.endswith("_id")
    if operator in ("in", "not_in", "includes_any") or kind in ("keywords", "tags"):
        items = _split(text)
        return [_as_id(item) for item in items] if is_id else items
    return _as_id(text.strip()) if is_id else text.strip()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _custom_value(text: str) -> Any:
    """``3``, ``2.5``, ``true`` / ``false`` as numbers and booleans; everything else text."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return parsed if isinstance(parsed, bool | int | float) else text


class RuleBuilder:
    """A rule's conditions (one ``all`` / ``any`` group) and actions as editable rows.

    It round-trips the rule's JSON: ``from_rule`` makes rows of a stored rule
    (None when the rule needs the JSON editor: nested groups, several agents
    to notify), ``document`` makes the JSON back, and ``apply_errors`` puts
    the domain's errors (``conditions.all.2.value``, ``actions.0.team``) on
    the row and part they name.
    """

    def __init__(self, match: str, conditions: list[BuilderRow], actions: list[BuilderRow]):
        self.match = match if match in ("all", "any") else "all"
        self.conditions = conditions
        self.actions = actions
        self.errors: list[str] = []

    @classmethod
    def blank(cls) -> RuleBuilder:
        builder = cls("all", [], [])
        builder.add_row("condition")
        builder.add_row("action")
        return builder

    @classmethod
    def from_rule(cls, conditions: Any, actions: Any) -> RuleBuilder | None:
        group = conditions or {"all": []}
        if (
            not isinstance(group, dict)
            or len(group) != 1
            or next(iter(group)) not in ("all", "any")
        ):
            return None
        match, items = next(iter(group.items()))
        condition_rows = []
        for index, condition in enumerate(items):
            if not isinstance(condition, dict) or "all" in condition or "any" in condition:
                return None  # a nested group: only the JSON editor shows it
            value = condition.get("value")
            if isinstance(value, list) and any("," in str(item) for item in value):
                return None
            values = {part: _text(condition.get(part)) for part in CONDITION_PARTS}
            condition_rows.append(BuilderRow(index, values))
        action_rows = []
        for index, action in enumerate(actions or []):
            recipients = action.get("recipients")
            if isinstance(recipients, list):
                if len(recipients) != 1:
                    return None
                recipients = recipients[0]
            value = action.get("value")
            if isinstance(value, str) and _custom_value(value) != value:
                return None  # text that looks like a number would come back as one
            values = {part: _text(action.get(part)) for part in ACTION_PARTS}
            values["recipients"] = _text(recipients)
            action_rows.append(BuilderRow(index, values))
        builder = cls(match, condition_rows, action_rows)
        if not builder.conditions:
            builder.add_row("condition")
        return builder

    @classmethod
    def from_post(cls, data: Any) -> RuleBuilder:
        def rows(prefix: str, parts: tuple[str, ...]) -> list[BuilderRow]:
            try:
                count = min(int(data.get(f"{prefix}-count", "0")), BUILDER_MAX_ROWS)
            except ValueError:
                count = 0
            return [
                BuilderRow(i, {part: str(data.get(f"{prefix}-{i}-{part}", "")) for part in parts})
                for i in range(max(count, 0))
            ]

        return cls(
            str(data.get("match", "all")),
            rows("cond", CONDITION_PARTS),
            rows("act", ACTION_PARTS),
        )

    def add_row(self, kind: str) -> None:
        target = self.conditions if kind == "condition" else self.actions
        parts = CONDITION_PARTS if kind == "condition" else ACTION_PARTS
        if len(target) < BUILDER_MAX_ROWS:
            target.append(BuilderRow(len(target), dict.fromkeys(parts, "")))

    def document(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The rule's JSON; rows whose field or action type is empty are dropped."""
        self._condition_rows = [row for row in self.conditions if row.values["field"]]
        self._action_rows = [row for row in self.actions if row.values["type"]]
        conditions = []
        for row in self._condition_rows:
            v = row.values
            condition: dict[str, Any] = {"field": v["field"], "operator": v["operator"]}
            if v["operator"] not in rules.PRESENCE_OPERATORS:
                condition["value"] = _condition_value(v["field"], v["operator"], v["value"])
            if v["field"].endswith(".attribute") or v["field"] == "custom_field":
                condition["key"] = v["key"].strip()
            if v["field"] in rules.PREDICTION_FIELDS and v["min_confidence"].strip():
                try:
                    condition["min_confidence"] = float(v["min_confidence"])
                except ValueError:
                    condition["min_confidence"] = v["min_confidence"]  # refused, with a message
            conditions.append(condition)
        actions = []
        for row in self._action_rows:
            v = row.values
            action: dict[str, Any] = {"type": v["type"]}
            for part in ACTION_USES.get(v["type"], ()):
                text = v[part].strip()
                if part == "team":
                    action[part] = _as_id(text)
                elif part == "agent":
                    action[part] = text if text == rules.TEAM_STRATEGY else _as_id(text)
                elif part == "recipients":
                    action[part] = text if text in ("team", "assignee") else [_as_id(text)]
                elif part == "tags":
                    action[part] = _split(text)
                elif part == "value":
                    action[part] = _custom_value(text)
                elif text or part in ("message",):
                    action[part] = text
            actions.append(action)
        return {self.match: conditions}, actions

    def apply_errors(self, field_errors: dict[str, list[str]]) -> None:
        """Puts each domain error on its row and part; the rest above the rows."""
        for path, messages in field_errors.items():
            parts = path.split(".")
            row: BuilderRow | None = None
            part = ""
            if parts[0] == "conditions" and len(parts) >= 3 and parts[2].isdigit():
                index = int(parts[2])
                rows = getattr(self, "_condition_rows", [])
                row = rows[index] if index < len(rows) else None
                part = parts[3] if len(parts) > 3 else ""
            elif parts[0] == "actions" and len(parts) >= 2 and parts[1].isdigit():
                index = int(parts[1])
                rows = getattr(self, "_action_rows", [])
                row = rows[index] if index < len(rows) else None
                part = parts[2] if len(parts) > 2 else ""
            if row is None:
                self.errors.extend(messages)
            else:
                row.errors.setdefault(part, []).extend(messages)

    @property
    def has_row_errors(self) -> bool:
        return any(row.errors for row in (*self.conditions, *self.actions))
