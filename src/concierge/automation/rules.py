"""Routing rules: the JSON schema, its strict validation, and evaluation against a ticket.

A rule is stored as three JSON documents (see ``RoutingRule``):

``events``: the ticket events it listens to, a list of
    ``"ticket_created"`` and/or ``"customer_reply"``.

``conditions``: a group, ``{"all": [...]}`` or ``{"any": [...]}``, whose items
    are conditions or nested groups (at most three levels deep). An empty
    ``{"all": []}`` always matches. One condition is
    ``{"field": ..., "operator": ..., "value": ...}`` plus, for some fields,
    ``"key"`` or ``"min_confidence"``:

    ===================== ============================================ ===========================
    field                 operators                                    value
    ===================== ============================================ ===========================
    channel               is, is_not, in, not_in                       portal, email, chat, api,
                                                                       phone, social, web
    mailbox               is, is_not, in, not_in                       mailbox id(s)
    chat_channel          is, is_not, in, not_in                       chat channel id(s)
    subject / body / text contains_any, contains_all, contains_none    keywords (whole words,
                                                                       any case)
    priority              is, is_not, in, not_in                       low, normal, high, urgent
    team                  is, is_not, in, not_in, is_set, is_not_set   team id(s)
    tags                  includes_any, includes_all, excludes_all     ticket tags
    customer.tags         includes_any, includes_all, excludes_all     customer tags
    customer.language     is, is_not, in, not_in                       language code(s)
    customer.attribute    is, is_not, in, not_in, contains,            with ``"key"``: the
                          is_set, is_not_set                           custom attribute's name
    organization          is, is_not, in, not_in, is_set, is_not_set   organization id(s)
    organization.attribute (as customer.attribute)
    custom_field          is, is_not, in, not_in, is_set, is_not_set;  with ``"key"``: the ticket
                          a multi-select: includes_any, is_set,        field's key; values are
                          is_not_set                                   checked as the field
                                                                       stores them (options)
    intent, sentiment,    is, is_not, in, not_in                       predicted label(s); with
    language, urgency,                                                 optional
    abuse, spam                                                        ``"min_confidence"`` 0..1
    business_hours        is_open, is_closed                           business hours id
    ===================== ============================================ ===========================

    Predictions come from ``ai.services.effective_labels`` (an agent's
    correction wins); a prediction condition never matches a ticket that has
    no prediction of that kind, or one below ``min_confidence``.

    ``custom_field`` reads the ticket's current value, whoever set it (an
    agent, the customer's portal form, AI triage's entity detection, which
    runs before the rules, or an earlier rule). Text compares in any case.

``actions``: a list, applied in order, of
    ``{"type": "set_team", "team": id}``,
    ``{"type": "set_priority", "priority": "high"}``,
    ``{"type": "add_tags", "tags": [...]}``, ``{"type": "remove_tags", "tags": [...]}``,
    ``{"type": "set_custom_field", "key": "...", "value": ...}``,
    ``{"type": "assign", "agent": id}`` or ``{"type": "assign", "agent": "team_strategy"}``,
    ``{"type": "notify", "recipients": "assignee" | "team" | [agent ids],
    "via": "email" | "in_app" | "both", "message": "..."}``,
    ``{"type": "escalate", "team": id, "priority": "high" | "urgent"}`` (moves the ticket
    to a supervisor team, raises its priority, tags it ``escalated`` and notifies the team),
    ``{"type": "hide_content", "reason": "..."}`` (hides the triggering message from agents
    behind a warning they can open), and ``{"type": "stop"}`` (no later rule runs).

This module is pure logic over plain data: validation needs the database only
to check that the ids named exist; evaluation reads a prepared ``RuleContext``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from concierge.automation.models import RuleEvent
from concierge.core.errors import ValidationFailed

MAX_CONDITIONS = 50
MAX_ACTIONS = 20
MAX_DEPTH = 3
MAX_KEYWORDS = 100
KEYWORD_MAX_CHARS = 100
MESSAGE_MAX_CHARS = 1000

CHOICE_OPERATORS = ("is", "is_not", "in", "not_in")
PRESENCE_OPERATORS = ("is_set", "is_not_set")
KEYWORD_OPERATORS = ("contains_any", "contains_all", "contains_none")
TAG_OPERATORS = ("includes_any", "includes_all", "excludes_all")
ATTRIBUTE_OPERATORS = (*CHOICE_OPERATORS, "contains", *PRESENCE_OPERATORS)
HOURS_OPERATORS = ("is_open", "is_closed")

PREDICTION_FIELDS = ("intent", "sentiment", "language", "urgency", "abuse", "spam")
CHANNELS = ("portal", "email", "chat", "api", "phone", "social", "web")
PRIORITIES = ("low", "normal", "high", "urgent")

# field -> (operators, kind of value)
FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "channel": (CHOICE_OPERATORS, "channel"),
    "mailbox": (CHOICE_OPERATORS, "mailbox_id"),
    "chat_channel": (CHOICE_OPERATORS, "chat_channel_id"),
    "subject": (KEYWORD_OPERATORS, "keywords"),
    "body": (KEYWORD_OPERATORS, "keywords"),
    "text": (KEYWORD_OPERATORS, "keywords"),
    "priority": (CHOICE_OPERATORS, "priority"),
    "team": ((*CHOICE_OPERATORS, *PRESENCE_OPERATORS), "team_id"),
    "tags": (TAG_OPERATORS, "tags"),
    "customer.tags": (TAG_OPERATORS, "tags"),
    "customer.language": (CHOICE_OPERATORS, "text"),
    "customer.attribute": (ATTRIBUTE_OPERATORS, "text"),
    "organization": ((*CHOICE_OPERATORS, *PRESENCE_OPERATORS), "organization_id"),
    "organization.attribute": (ATTRIBUTE_OPERATORS, "text"),
    **{name: (CHOICE_OPERATORS, "label") for name in PREDICTION_FIELDS},
    "business_hours": (HOURS_OPERATORS, "business_hours_id"),
    "custom_field": ((*CHOICE_OPERATORS, *PRESENCE_OPERATORS, "includes_any"), "custom_field"),
}
# A multi-select holds a list: it is asked whether it holds any of the values, or anything.
MULTI_SELECT_OPERATORS = ("includes_any", *PRESENCE_OPERATORS)
ACTION_TYPES = (
    "set_team", "set_priority", "add_tags", "remove_tags", "set_custom_field", "assign",
    "notify", "escalate", "hide_content", "stop",
)  # fmt: skip
NOTIFY_CHANNELS = ("email", "in_app", "both")
TEAM_STRATEGY = "team_strategy"


# --- validation -------------------------------------------------------------------------------


@dataclass
class _Problems:
    """Collects field errors under dotted paths (``conditions.all.0.value``)."""

    errors: dict[str, list[str]] = field(default_factory=dict)

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)


@dataclass(frozen=True)
class KnownIds:
    """The ids that exist, so a rule naming a deleted team is refused with a clear error."""

    teams: frozenset[int] = frozenset()
    agents: frozenset[int] = frozenset()
    mailboxes: frozenset[int] = frozenset()
    organizations: frozenset[int] = frozenset()
    business_hours: frozenset[int] = frozenset()
    chat_channels: frozenset[int] = frozenset()
    custom_fields: frozenset[str] = frozenset()


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _clean_keywords(value: Any, path: str, problems: _Problems) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        problems.add(path, "Give one or more keywords.")
        return []
    cleaned: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            problems.add(path, "Keywords are non-empty text.")
            return []
        text = " ".join(item.split()).lower()
        if len(text) > KEYWORD_MAX_CHARS:
            problems.add(path, f"A keyword is at most {KEYWORD_MAX_CHARS} characters.")
            return []
        if text not in cleaned:
            cleaned.append(text)
    if len(cleaned) > MAX_KEYWORDS:
        problems.add(path, f"At most {MAX_KEYWORDS} keywords.")
    return cleaned


def _clean_value(
    kind: str, operator: str, value: Any, path: str, known: KnownIds, problems: _Problems
) -> Any:
    """The value checked for its field's kind; lists for ``in`` / ``not_in``."""
    if operator in PRESENCE_OPERATORS:
        return None
    many = operator in ("in", "not_in") or kind in ("keywords", "tags")
    if kind == "keywords":
        return _clean_keywords(value, path, problems)
    if kind == "tags":
        from concierge.core.tags import normalize_tags

        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            problems.add(path, "Give one or more tags.")
            return []
        try:
            return normalize_tags(items)
        except ValidationFailed as error:
            problems.add(path, error.message)
            return []
    values = value if many else [value]
    if not isinstance(values, list) or not values:
        problems.add(path, "Give a list of values." if many else "A value is required.")
        return [] if many else None
    cleaned: list[Any] = []
    ids_by_kind = {
        "team_id": (known.teams, "team"),
        "mailbox_id": (known.mailboxes, "mailbox"),
        "organization_id": (known.organizations, "organization"),
        "business_hours_id": (known.business_hours, "business hours"),
        "chat_channel_id": (known.chat_channels, "chat channel"),
    }
    for item in values:
        if kind in ids_by_kind:
            existing, noun = ids_by_kind[kind]
            if not _is_id(item):
                problems.add(path, f"Use the {noun}'s id (a positive number).")
                continue
            if item not in existing:
                problems.add(path, f"No {noun} with id {item}.")
                continue
            cleaned.append(item)
        elif kind == "channel":
            if item not in CHANNELS:
                problems.add(
                    path, f"Unknown channel {str(item)[:20]!r}; use {', '.join(CHANNELS)}."
                )
                continue
            cleaned.append(item)
        elif kind == "priority":
            if item not in PRIORITIES:
                problems.add(path, f"Unknown priority; use {', '.join(PRIORITIES)}.")
                continue
            cleaned.append(item)
        else:  # free text: labels, language codes, attribute values, chat channel keys
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                problems.add(path, "Values are text or numbers.")
                continue
            text = str(item).strip()
            if not text or len(text) > 200:
                problems.add(path, "Values are 1 to 200 characters.")
                continue
            cleaned.append(text.lower() if kind == "label" else text)
    if many:
        return cleaned
    return cleaned[0] if cleaned else None


def _validate_condition(
    condition: Any, path: str, known: KnownIds, problems: _Problems, counter: list[int]
) -> dict[str, Any]:
    counter[0] += 1
    if not isinstance(condition, dict):
        problems.add(path, "A condition is an object with field, operator and value.")
        return {}
    if "all" in condition or "any" in condition:
        return _validate_group(condition, path, known, problems, counter, depth=0)
    field_name = condition.get("field")
    if field_name not in FIELDS:
        problems.add(
            f"{path}.field",
            f"Unknown field {str(field_name)[:40]!r}; use one of: {', '.join(FIELDS)}.",
        )
        return {}
    operators, kind = FIELDS[field_name]
    operator = condition.get("operator")
    if operator not in operators:
        problems.add(
            f"{path}.operator",
            f"{field_name} takes the operators {', '.join(operators)}; not {str(operator)[:30]!r}.",
        )
        return {}
    allowed_keys = {"field", "operator", "value"}
    cleaned: dict[str, Any] = {"field": field_name, "operator": operator}
    if field_name.endswith(".attribute"):
        allowed_keys.add("key")
        key = condition.get("key")
        if not isinstance(key, str) or not re.fullmatch(r"[\w.\-]{1,64}", key):
            problems.add(f"{path}.key", "Name the attribute (letters, digits, _ . -).")
        else:
            cleaned["key"] = key
    if field_name == "custom_field":
        allowed_keys.add("key")
        custom = _clean_custom_field_condition(condition, operator, path, known, problems)
        cleaned.update(custom)
        unknown = set(condition) - allowed_keys
        if unknown:
            problems.add(path, f"Unknown keys: {', '.join(sorted(map(str, unknown)))}.")
        return cleaned
    if field_name in PREDICTION_FIELDS:
        allowed_keys.add("min_confidence")
        confidence = condition.get("min_confidence", 0)
        if (
            not isinstance(confidence, int | float)
            or isinstance(confidence, bool)
            or not 0 <= confidence <= 1
        ):
            problems.add(f"{path}.min_confidence", "A number from 0 to 1.")
        else:
            cleaned["min_confidence"] = float(confidence)
    unknown = set(condition) - allowed_keys
    if unknown:
        problems.add(path, f"Unknown keys: {', '.join(sorted(map(str, unknown)))}.")
    if operator not in PRESENCE_OPERATORS:
        cleaned["value"] = _clean_value(
            kind, operator, condition.get("value"), f"{path}.value", known, problems
        )
    return cleaned


def _clean_custom_field_condition(
    condition: dict[str, Any], operator: str, path: str, known: KnownIds, problems: _Problems
) -> dict[str, Any]:
    """The key and value of a ``custom_field`` condition, checked against the field.

    Each value must be one the field could hold (a dropdown's option, a
    number for a number field...) and is kept as the field stores it, so the
    comparison with a ticket's value is exact.
    """
    from decimal import InvalidOperation

    from concierge.tickets.models import CustomField, FieldType

    key = condition.get("key")
    custom_field = (
        CustomField.objects.filter(key=key, is_active=True).first()
        if isinstance(key, str) and key in known.custom_fields
        else None
    )
    if custom_field is None:
        problems.add(f"{path}.key", f"No active custom field with key {str(key)[:64]!r}.")
        return {}
    is_multi_select = custom_field.field_type == FieldType.MULTI_SELECT
    allowed = (
        MULTI_SELECT_OPERATORS if is_multi_select else (*CHOICE_OPERATORS, *PRESENCE_OPERATORS)
    )
    if operator not in allowed:
        problems.add(
            f"{path}.operator",
            f"{custom_field.label} ({custom_field.get_field_type_display().lower()}) takes the "
            f"operators {', '.join(allowed)}; not {operator}.",
        )
        return {"key": key}
    if operator in PRESENCE_OPERATORS:
        return {"key": key}
    value = condition.get("value")
    many = operator in ("in", "not_in", "includes_any")
    items = value if many else [value]
    if many and isinstance(value, str | int | float) and not isinstance(value, bool):
        items = [value]  # one value where a list was expected: a list of one
    if not isinstance(items, list) or not items or any(i in (None, "", []) for i in items):
        problems.add(f"{path}.value", "Give a list of values." if many else "A value is required.")
        return {"key": key}
    cleaned: list[Any] = []
    for item in items[:MAX_KEYWORDS]:
        try:
            typed = custom_field.coerce(item)
        except (ValueError, InvalidOperation, TypeError) as error:
            problems.add(f"{path}.value", f"{str(item)[:40]!r}: {error or 'Invalid value.'}")
            continue
        # A multi-select's coerce makes a list; a condition compares single options.
        cleaned.extend(typed if isinstance(typed, list) else [typed])
    if len(items) > MAX_KEYWORDS:
        problems.add(f"{path}.value", f"At most {MAX_KEYWORDS} values.")
    return {"key": key, "value": cleaned if many else (cleaned[0] if cleaned else None)}


def _validate_group(
    group: Any,
    path: str,
    known: KnownIds,
    problems: _Problems,
    counter: list[int],
    depth: int,
) -> dict[str, Any]:
    if not isinstance(group, dict) or len(group) != 1 or next(iter(group)) not in ("all", "any"):
        problems.add(path or "conditions", 'Conditions are {"all": [...]} or {"any": [...]}.')
        return {"all": []}
    combinator, items = next(iter(group.items()))
    where = f"{path}.{combinator}" if path else combinator
    if depth >= MAX_DEPTH:
        problems.add(where, f"Groups nest at most {MAX_DEPTH} levels deep.")
        return {combinator: []}
    if not isinstance(items, list):
        problems.add(where, "Expected a list of conditions.")
        return {combinator: []}
    cleaned = []
    for index, item in enumerate(items):
        item_path = f"{where}.{index}"
        if isinstance(item, dict) and ("all" in item or "any" in item):
            counter[0] += 1
            cleaned.append(_validate_group(item, item_path, known, problems, counter, depth + 1))
        else:
            cleaned.append(_validate_condition(item, item_path, known, problems, counter))
    return {combinator: cleaned}


def _validate_action(
    action: Any, path: str, known: KnownIds, problems: _Problems
) -> dict[str, Any]:
    if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
        kind = action.get("type") if isinstance(action, dict) else None
        problems.add(
            f"{path}.type",
            f"Unknown action {str(kind)[:30]!r}; use one of: {', '.join(ACTION_TYPES)}.",
        )
        return {}
    kind = action["type"]
    cleaned: dict[str, Any] = {"type": kind}
    allowed = {"type"}

    def team(key: str = "team") -> None:
        allowed.add(key)
        value = action.get(key)
        if not _is_id(value) or value not in known.teams:
            problems.add(f"{path}.{key}", f"No team with id {str(value)[:20]}.")
        cleaned[key] = value

    def priority(required: bool) -> None:
        allowed.add("priority")
        value = action.get("priority", None if required else "high")
        if value not in PRIORITIES:
            problems.add(f"{path}.priority", f"Use one of: {', '.join(PRIORITIES)}.")
        cleaned["priority"] = value

    if kind == "set_team":
        team()
    elif kind == "set_priority":
        priority(required=True)
    elif kind in ("add_tags", "remove_tags"):
        allowed.add("tags")
        cleaned["tags"] = _clean_value(
            "tags", "includes_any", action.get("tags"), f"{path}.tags", known, problems
        )
    elif kind == "set_custom_field":
        allowed |= {"key", "value"}
        key = action.get("key")
        if key not in known.custom_fields:
            problems.add(f"{path}.key", f"No active custom field with key {str(key)[:64]!r}.")
        else:
            _check_custom_value(str(key), action.get("value"), f"{path}.value", problems)
        cleaned["key"], cleaned["value"] = key, action.get("value")
    elif kind == "assign":
        allowed.add("agent")
        agent = action.get("agent")
        if agent != TEAM_STRATEGY and (not _is_id(agent) or agent not in known.agents):
            problems.add(
                f"{path}.agent",
                f'Use an active agent\'s id or "{TEAM_STRATEGY}"; got {str(agent)[:20]}.',
            )
        cleaned["agent"] = agent
    elif kind == "notify":
        allowed |= {"recipients", "via", "message"}
        recipients = action.get("recipients", "team")
        if recipients not in ("assignee", "team") and not (
            isinstance(recipients, list)
            and recipients
            and all(_is_id(r) and r in known.agents for r in recipients)
        ):
            problems.add(f"{path}.recipients", '"assignee", "team", or a list of active agent ids.')
        via = action.get("via", "both")
        if via not in NOTIFY_CHANNELS:
            problems.add(f"{path}.via", f"Use one of: {', '.join(NOTIFY_CHANNELS)}.")
        message = action.get("message", "")
        if not isinstance(message, str) or len(message) > MESSAGE_MAX_CHARS:
            problems.add(f"{path}.message", f"Text of at most {MESSAGE_MAX_CHARS} characters.")
            message = ""
        cleaned.update(recipients=recipients, via=via, message=message.strip())
    elif kind == "escalate":
        team()
        priority(required=False)
    elif kind == "hide_content":
        allowed.add("reason")
        reason = action.get("reason", "Flagged as abusive")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            problems.add(f"{path}.reason", "A reason of 1 to 200 characters.")
            reason = ""
        cleaned["reason"] = " ".join(reason.split())
    unknown = set(action) - allowed
    if unknown:
        problems.add(path, f"Unknown keys for {kind}: {', '.join(sorted(map(str, unknown)))}.")
    return cleaned


def _check_custom_value(key: str, value: Any, path: str, problems: _Problems) -> None:
    from decimal import InvalidOperation

    from concierge.tickets.models import CustomField

    custom_field = CustomField.objects.filter(key=key, is_active=True).first()
    if custom_field is None or value in (None, "", []):
        return
    try:
        custom_field.coerce(value)
    except (ValueError, InvalidOperation) as error:
        problems.add(path, str(error) or "Invalid value.")


@dataclass(frozen=True)
class CleanRule:
    events: list[str]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]


def validate_rule(events: Any, conditions: Any, actions: Any, known: KnownIds) -> CleanRule:
    """Checks a rule's three documents; raises ValidationFailed naming every bad field."""
    problems = _Problems()
    cleaned_events: list[str] = []
    if not isinstance(events, list) or not events:
        problems.add("events", f"Choose at least one of: {', '.join(RuleEvent.values)}.")
    else:
        for event in events:
            if event not in RuleEvent.values:
                problems.add("events", f"Unknown event {str(event)[:30]!r}.")
            elif event not in cleaned_events:
                cleaned_events.append(event)
    if conditions in (None, {}):
        conditions = {"all": []}
    counter = [0]
    cleaned_conditions = _validate_group(conditions, "", known, problems, counter, depth=0)
    if counter[0] > MAX_CONDITIONS:
        problems.add("conditions", f"At most {MAX_CONDITIONS} conditions in one rule.")
    cleaned_actions: list[dict[str, Any]] = []
    if not isinstance(actions, list) or not actions:
        problems.add("actions", "A rule needs at least one action.")
    elif len(actions) > MAX_ACTIONS:
        problems.add("actions", f"At most {MAX_ACTIONS} actions in one rule.")
    else:
        cleaned_actions = [
            _validate_action(action, f"actions.{index}", known, problems)
            for index, action in enumerate(actions)
        ]
    if problems.errors:
        # Condition paths start at the group ("all.0.value"); name them under "conditions".
        errors = {
            (
                key
                if key.split(".")[0] in ("events", "actions", "conditions")
                else f"conditions.{key}"
            ): value
            for key, value in problems.errors.items()
        }
        raise ValidationFailed("The rule is not valid: " + _summary(errors), field_errors=errors)
    return CleanRule(cleaned_events, cleaned_conditions, cleaned_actions)


def _summary(errors: dict[str, list[str]]) -> str:
    first_path, messages = next(iter(errors.items()))
    more = len(errors) - 1
    return f"{first_path}: {messages[0]}" + (f" (and {more} more)" if more else "")


# --- evaluation ---------------------------------------------------------------------------------


@dataclass
class RuleContext:
    """What rules look at, read once per ticket event (see ``services.rule_context``)."""

    event: str
    channel: str
    priority: str
    team_id: int | None
    organization_id: int | None
    mailbox_id: int | None
    chat_channel_id: int | None
    subject: str
    body: str
    tags: set[str]
    customer_tags: set[str]
    customer_language: str
    customer_attributes: dict[str, Any]
    organization_attributes: dict[str, Any]
    labels: dict[str, tuple[str, float]]
    now: datetime
    is_open: Callable[[int], bool]
    custom_fields: dict[str, Any] = field(default_factory=dict)  # the ticket's values, by key


@dataclass(frozen=True)
class ConditionResult:
    matched: bool
    explanation: str


def _keyword_found(keyword: str, text: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(keyword) + r"(?!\w)", text) is not None


def _compare(operator: str, actual: Any, expected: Any) -> bool:
    if operator == "is":
        return bool(actual == expected)
    if operator == "is_not":
        return bool(actual != expected)
    if operator == "in":
        return actual in expected
    if operator == "not_in":
        return actual not in expected
    if operator == "is_set":
        return actual not in (None, "", [])
    if operator == "is_not_set":
        return actual in (None, "", [])
    raise ValueError(operator)


def _attribute_matches(operator: str, actual: Any, expected: Any) -> bool:
    text = None if actual in (None, "") else str(actual).lower()
    if operator in PRESENCE_OPERATORS:
        return _compare(operator, text, None)
    if text is None:
        return operator in ("is_not", "not_in")
    if operator == "contains":
        return str(expected).lower() in text
    if operator in ("in", "not_in"):
        return _compare(operator, text, [str(e).lower() for e in expected])
    return _compare(operator, text, str(expected).lower())


def _comparable(value: Any) -> Any:
    """Text in any case; numbers, booleans and dates (ISO text) as stored."""
    return value.casefold() if isinstance(value, str) else value


def _text_of(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value in (None, "") else str(value)


def _custom_field_matches(operator: str, actual: Any, expected: Any) -> bool:
    """A ticket's custom field value against a condition (an empty field is "not set")."""
    if operator in PRESENCE_OPERATORS:
        return _compare(operator, actual, None)
    if operator == "includes_any":
        held = {_comparable(item) for item in actual} if isinstance(actual, list) else set()
        return any(_comparable(item) in held for item in expected)
    if actual in (None, "", []):
        return operator in ("is_not", "not_in")
    if operator in ("in", "not_in"):
        return _compare(operator, _comparable(actual), [_comparable(e) for e in expected])
    return _compare(operator, _comparable(actual), _comparable(expected))


def evaluate_condition(condition: dict[str, Any], context: RuleContext) -> ConditionResult:
    name, operator = condition["field"], condition["operator"]
    value: Any = condition.get("value")
    shown_value = ", ".join(map(str, value)) if isinstance(value, list) else value
    shown = f"{name} {operator.replace('_', ' ')}" + (
        f" {shown_value}" if value is not None else ""
    )
    if name in PREDICTION_FIELDS:
        predicted = context.labels.get(name)
        if predicted is None:
            return ConditionResult(False, f"{shown}: no {name} prediction yet")
        label, confidence = predicted
        threshold = condition.get("min_confidence", 0.0)
        if confidence < threshold:
            return ConditionResult(
                False, f"{shown}: predicted {label} at {confidence:.2f}, under {threshold:.2f}"
            )
        matched = _compare(operator, label.lower(), value)
        return ConditionResult(matched, f"{shown}: predicted {label} ({confidence:.2f})")
    if name in ("subject", "body", "text"):
        text = {
            "subject": context.subject,
            "body": context.body,
            "text": f"{context.subject}\n{context.body}",
        }[name].lower()
        found = [keyword for keyword in value if _keyword_found(keyword, text)]
        matched = {
            "contains_any": bool(found),
            "contains_all": len(found) == len(value),
            "contains_none": not found,
        }[operator]
        return ConditionResult(matched, f"{shown}: found {', '.join(found) or 'none'}")
    if name in ("tags", "customer.tags"):
        have = context.tags if name == "tags" else context.customer_tags
        wanted = set(value)
        matched = {
            "includes_any": bool(have & wanted),
            "includes_all": wanted <= have,
            "excludes_all": not (have & wanted),
        }[operator]
        return ConditionResult(matched, f"{shown}: has {', '.join(sorted(have)) or 'none'}")
    if name.endswith(".attribute"):
        attributes = (
            context.customer_attributes
            if name.startswith("customer")
            else context.organization_attributes
        )
        actual = attributes.get(condition["key"])
        matched = _attribute_matches(operator, actual, value)
        return ConditionResult(matched, f"{name} {condition['key']} {operator}: is {actual!r}")
    if name == "custom_field":
        actual = context.custom_fields.get(condition["key"])
        matched = _custom_field_matches(operator, actual, value)
        shown_actual = _text_of(actual) or "empty"
        return ConditionResult(
            matched, f"custom field {condition['key']} {operator}: {shown_actual}"
        )
    if name == "business_hours":
        is_open = context.is_open(value)
        matched = is_open if operator == "is_open" else not is_open
        return ConditionResult(
            matched, f"business hours {value}: {'open' if is_open else 'closed'}"
        )
    actual = {
        "channel": context.channel,
        "mailbox": context.mailbox_id,
        "chat_channel": context.chat_channel_id,
        "priority": context.priority,
        "team": context.team_id,
        "organization": context.organization_id,
        "customer.language": context.customer_language,
    }[name]
    if name == "customer.language":
        return ConditionResult(
            _attribute_matches(operator, actual, value), f"{shown}: is {actual or 'none'}"
        )
    return ConditionResult(_compare(operator, actual, value), f"{shown}: is {actual or 'none'}")


def evaluate_group(
    group: dict[str, Any], context: RuleContext
) -> tuple[bool, list[ConditionResult]]:
    """Whether the group holds, with every condition's result (for the "test rule" page)."""
    combinator, items = next(iter(group.items()))
    results: list[ConditionResult] = []
    outcomes: list[bool] = []
    for item in items:
        if "all" in item or "any" in item:
            matched, inner = evaluate_group(item, context)
            results.extend(inner)
        else:
            result = evaluate_condition(item, context)
            matched = result.matched
            results.append(result)
        outcomes.append(matched)
    if combinator == "all":
        return all(outcomes), results
    return any(outcomes), results
