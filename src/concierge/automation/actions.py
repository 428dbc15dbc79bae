"""Writes for automation. Every write checks the policy, validates and records.

Business hours, routing rules, team assignment settings and agent skills are
admins' writes; ``process_ticket_event`` is the system's: it runs the triage,
the rules and the assignment for one ticket event (see ``automation.tasks``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from concierge.accounts.models import Team, User
from concierge.automation import services
from concierge.automation.models import (
    WEEKDAYS,
    AgentNotification,
    AgentRoutingProfile,
    AssignmentStrategy,
    BusinessHours,
    PipelineRun,
    RoutingRule,
    RuleEvent,
    TeamRouting,
)
from concierge.automation.rules import evaluate_group, validate_rule
from concierge.core import events, policy
from concierge.core.errors import ConciergeError, LimitExceeded, PermissionDenied, ValidationFailed
from concierge.core.events import enqueue_after_commit
from concierge.tickets.actions import note_ticket_change, update_ticket
from concierge.tickets.models import (
    PRIORITY_RANK,
    SPAM_TAG,
    AuditEvent,
    Entry,
    Priority,
    Ticket,
)

logger = logging.getLogger(__name__)
# The tag an escalation adds, so views and rules can find escalated tickets.
ESCALATED_TAG = "escalated"

_CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _validate_schedule(schedule: Any) -> dict[str, list[list[str]]]:
    if not isinstance(schedule, dict):
        raise ValidationFailed(
            "The schedule must map weekdays to intervals.",
            field_errors={"schedule": ["Expected an object."]},
        )
    cleaned: dict[str, list[list[str]]] = {}
    for day, intervals in schedule.items():
        if day not in WEEKDAYS:
            raise ValidationFailed(
                f"Unknown weekday {str(day)[:10]!r}; use {', '.join(WEEKDAYS)}.",
                field_errors={"schedule": [f"Unknown weekday {str(day)[:10]!r}."]},
            )
        if not isinstance(intervals, list):
            raise ValidationFailed(
                f"{day}: expected a list of [start, end] intervals.",
                field_errors={"schedule": [f"{day}: expected a list."]},
            )
        day_intervals: list[list[str]] = []
        for interval in intervals:
            if (
                not isinstance(interval, list | tuple)
                or len(interval) != 2
                or not all(isinstance(v, str) and _CLOCK.match(v) for v in interval)
            ):
                raise ValidationFailed(
                    f'{day}: each interval is ["HH:MM", "HH:MM"].',
                    field_errors={"schedule": [f"{day}: bad interval."]},
                )
            start, end = interval
            if start == "24:00" or (end != "24:00" and end <= start):
                raise ValidationFailed(
                    f"{day}: {start}-{end} ends before it starts.",
                    field_errors={"schedule": [f"{day}: {start}-{end} is empty."]},
                )
            day_intervals.append([start, end])
        day_intervals.sort()
        for previous, current in zip(day_intervals, day_intervals[1:], strict=False):
            if current[0] < previous[1]:
                raise ValidationFailed(
                    f"{day}: intervals overlap.",
                    field_errors={"schedule": [f"{day}: intervals overlap."]},
                )
        cleaned[day] = day_intervals
    return cleaned


def _validate_holidays(holidays: Any) -> list[str]:
    if not isinstance(holidays, list):
        raise ValidationFailed(
            "Holidays must be a list of dates.",
            field_errors={"holidays": ["Expected a list of YYYY-MM-DD dates."]},
        )
    cleaned = []
    for value in holidays:
        try:
            cleaned.append(date.fromisoformat(str(value)).isoformat())
        except ValueError:
            raise ValidationFailed(
                f"{str(value)[:20]!r} is not a date (YYYY-MM-DD).",
                field_errors={"holidays": ["Use YYYY-MM-DD."]},
            ) from None
    return sorted(set(cleaned))


@transaction.atomic
def save_business_hours(
    *,
    actor: Any,
    hours: BusinessHours | None = None,
    name: str,
    timezone: str,
    schedule: Any,
    holidays: Any = (),
) -> BusinessHours:
    """Creates or updates business hours (admins only)."""
    if not policy.can_manage_settings(actor):
        raise PermissionDenied("Only admins can change business hours.")
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationFailed(
            "A name of 1 to 120 characters is required.",
            field_errors={"name": ["Required, at most 120 characters."]},
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"Unknown time zone {str(timezone)[:64]!r}.",
            field_errors={"timezone": ["Use an IANA name such as Europe/Paris."]},
        ) from None
    duplicate = BusinessHours.objects.filter(name__iexact=name)
    if hours is not None:
        duplicate = duplicate.exclude(pk=hours.pk)
    if duplicate.exists():
        raise ValidationFailed(
            f"Business hours named {name!r} already exist.",
            field_errors={"name": ["Already taken."]},
        )
    hours = hours or BusinessHours()
    hours.name = name
    hours.timezone = timezone
    hours.schedule = _validate_schedule(schedule)
    hours.holidays = _validate_holidays(list(holidays))
    hours.save()
    return hours


# --- routing rules: writes --------------------------------------------------------------------


def _clean_rule_text(name: str, description: str) -> tuple[str, str]:
    name = " ".join((name or "").split())
    errors: dict[str, list[str]] = {}
    if not name or len(name) > 120:
        errors["name"] = ["Required, at most 120 characters."]
    description = " ".join((description or "").split())
    if len(description) > 500:
        errors["description"] = ["At most 500 characters."]
    if errors:
        raise ValidationFailed("The rule is not valid.", field_errors=errors)
    return name, description


@transaction.atomic
def save_rule(
    *,
    actor: Any,
    rule: RoutingRule | None = None,
    name: str,
    description: str = "",
    events: Any,
    conditions: Any,
    actions: Any,
    is_active: bool = True,
) -> RoutingRule:
    """Creates or changes a routing rule; a new rule goes last. Refuses invalid rules whole."""
    if not policy.can_manage_routing(actor):
        raise PermissionDenied("Only admins change routing rules.")
    name, description = _clean_rule_text(name, description)
    clean = validate_rule(events, conditions, actions, services.known_ids(conditions))
    duplicate = RoutingRule.objects.filter(name__iexact=name)
    if rule is not None:
        duplicate = duplicate.exclude(pk=rule.pk)
    if duplicate.exists():
        raise ValidationFailed(
            f"A rule named {name!r} exists.", field_errors={"name": ["Already taken."]}
        )
    if rule is None:
        last = RoutingRule.objects.aggregate(last=Max("position"))["last"]
        rule = RoutingRule(position=0 if last is None else last + 1)
    rule.name, rule.description, rule.is_active = name, description, is_active
    rule.events, rule.conditions, rule.actions = clean.events, clean.conditions, clean.actions
    rule.updated_by = actor
    rule.save()
    return rule


def set_rule_active(*, actor: Any, rule: RoutingRule, is_active: bool) -> RoutingRule:
    if not policy.can_manage_routing(actor):
        raise PermissionDenied("Only admins change routing rules.")
    rule.is_active = is_active
    rule.updated_by = actor
    rule.save(update_fields=["is_active", "updated_by", "updated_at"])
    return rule


def delete_rule(*, actor: Any, rule: RoutingRule) -> None:
    if not policy.can_manage_routing(actor):
        raise PermissionDenied("Only admins delete routing rules.")
    rule.delete()


@transaction.atomic
def reorder_rules(*, actor: Any, rule_ids: list[int]) -> list[RoutingRule]:
    """Puts the rules in the given order (every rule, each once)."""
    if not policy.can_manage_routing(actor):
        raise PermissionDenied("Only admins reorder routing rules.")
    rules = {rule.pk: rule for rule in RoutingRule.objects.select_for_update()}
    if sorted(rule_ids) != sorted(rules) or len(set(rule_ids)) != len(rule_ids):
        raise ValidationFailed(
            "List every rule exactly once.", field_errors={"rule_ids": ["Every rule, once each."]}
        )
    for position, rule_id in enumerate(rule_ids):
        rule = rules[rule_id]
        if rule.position != position:
            rule.position = position
            rule.save(update_fields=["position", "updated_at"])
    return [rules[rule_id] for rule_id in rule_ids]


def move_rule(*, actor: Any, rule: RoutingRule, direction: str) -> RoutingRule:
    """Moves a rule one place ``up`` or ``down`` in the evaluation order."""
    if direction not in ("up", "down"):
        raise ValidationFailed("Move up or down.", field_errors={"direction": ["up or down."]})
    order = list(RoutingRule.objects.order_by("position", "id").values_list("pk", flat=True))
    index = order.index(rule.pk)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(order):
        order[index], order[other] = order[other], order[index]
    reorder_rules(actor=actor, rule_ids=order)
    rule.refresh_from_db()
    return rule


# --- team routing and agent skills -----------------------------------------------------------


@transaction.atomic
def save_team_routing(
    *, actor: Any, team: Team, strategy: str, require_skill_match: bool = False
) -> TeamRouting:
    """Sets a team's assignment strategy; switching it on drains the team's waiting tickets."""
    if not policy.can_manage_routing(actor):
        raise PermissionDenied("Only admins change assignment settings.")
    if strategy not in AssignmentStrategy.values:
        raise ValidationFailed(
            f"Unknown strategy; use {', '.join(AssignmentStrategy.values)}.",
            field_errors={"strategy": ["Unknown value."]},
        )
    routing, _ = TeamRouting.objects.select_for_update().get_or_create(team=team)
    routing.strategy = strategy
    routing.require_skill_match = bool(require_skill_match)
    routing.save()
    if strategy != AssignmentStrategy.MANUAL:
        enqueue_after_commit(_tasks().drain_team_queue_task, team.pk)
    return routing


SKILL_PATTERN = re.compile(r"^[\w][\w \-&.]{0,63}$")
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})?$")
MAX_SKILLS = 50


def _clean_words(values: Any, pattern: re.Pattern[str], field: str, what: str) -> list[str]:
    items = values.split(",") if isinstance(values, str) else values
    if not isinstance(items, list | tuple):
        raise ValidationFailed(
            f"{what} must be a list.", field_errors={field: ["Expected a list."]}
        )
    cleaned: list[str] = []
    for item in items:
        word = " ".join(str(item).split()).lower()
        if not word:
            continue
        if not pattern.match(word):
            raise ValidationFailed(
                f"{what}: {word[:64]!r} is not valid.",
                field_errors={field: [f"{word[:64]!r}: letters, digits, spaces and - only."]},
            )
        if word not in cleaned:
            cleaned.append(word)
    if len(cleaned) > MAX_SKILLS:
        raise LimitExceeded(f"At most {MAX_SKILLS} {what.lower()} per agent.")
    return cleaned


@transaction.atomic
def save_agent_profile(
    *, actor: Any, agent: User, skills: Any, languages: Any
) -> AgentRoutingProfile:
    """Sets an agent's skills (matched to intents and tags) and languages (codes like "en")."""
    if not policy.can_manage_routing(actor):
        raise PermissionDenied("Only admins change agent skills.")
    if not policy.is_staff(agent):
        raise ValidationFailed(
            "Only agents have skills.", field_errors={"agent": ["Not an agent."]}
        )
    profile, _ = AgentRoutingProfile.objects.get_or_create(user=agent)
    profile.skills = _clean_words(skills, SKILL_PATTERN, "skills", "Skills")
    profile.languages = _clean_words(languages, LANGUAGE_PATTERN, "languages", "Languages")
    profile.save()
    return profile


# --- the pipeline: triage, rules, assignment ----------------------------------------------------


def _tasks() -> Any:
    from concierge.automation import tasks

    return tasks


def _triage(ticket_id: int, entry_id: int | None) -> None:
    """Runs the AI triage when it is enabled and installed; a failure never blocks routing."""
    if not django_settings.TRIAGE_ENABLED:
        return
    try:
        from concierge.ai.actions import triage_ticket
    except ImportError:
        logger.info("Triage is enabled but concierge.ai.actions is not available.")
        return
    try:
        with transaction.atomic():
            triage_ticket(ticket_id=ticket_id, entry_id=entry_id)
    except Exception:
        # Routing still runs on what it knows (channel, keywords, customer) without labels.
        logger.exception("Triage failed for ticket %s; routing without predictions.", ticket_id)


def _notify(ticket: Ticket, action: dict[str, Any], rule: RoutingRule) -> list[int]:
    """Queues the notification of a rule (email task and/or in-app event); the agents notified."""
    recipients = action.get("recipients", "team")
    if recipients == "assignee":
        agent_ids = [ticket.assignee_id] if ticket.assignee_id else []
    elif recipients == "team":
        agent_ids = list(
            User.objects.filter(
                teams__tickets=ticket, is_active=True, role__in=("admin", "agent")
            ).values_list("pk", flat=True)
        )
    else:
        agent_ids = list(recipients)
    agent_ids = sorted(set(agent_ids))
    if not agent_ids:
        return []
    via = action.get("via", "both")
    message = action.get("message") or f"Rule “{rule.name}” flagged ticket #{ticket.pk}."
    if via in ("email", "both"):
        enqueue_after_commit(
            _tasks().notify_agents_by_email, ticket.pk, agent_ids, message, rule.name
        )
    if via in ("in_app", "both"):
        notify_in_app(agent_ids=agent_ids, message=message, ticket=ticket, rule_name=rule.name)
    return agent_ids


def notify_in_app(
    *,
    agent_ids: Sequence[int],
    message: str,
    ticket: Ticket | None = None,
    rule_name: str = "",
    link: str = "",
) -> list[int]:
    """Stores a notice per active agent (the workspace bell and list), then tells open
    workspaces; the agents notified.

    The event goes on the staff stream (every staff member may read every
    ticket today); ``user_ids`` names the recipients, and the agent socket
    sends it to them alone (``policy.can_receive_ticket_event``). ``link`` is a
    workspace path the server built (never one a user typed): opening the
    notice goes there when it is about something other than a ticket.
    """
    if link and (not link.startswith("/") or link.startswith("//")):
        raise ValueError(f"A notification links to a workspace path, not {link!r}.")
    recipients = list(
        User.objects.filter(pk__in=agent_ids, is_active=True).values_list("pk", flat=True)
    )
    AgentNotification.objects.bulk_create(
        AgentNotification(
            user_id=agent_id,
            ticket=ticket,
            message=message[:1000],
            rule_name=rule_name[:200],
            link=link[:300],
        )  # fmt: skip
        for agent_id in recipients
    )
    publish = getattr(events, "publish", None)
    if publish is None or not recipients:  # the real-time layer is not there yet
        return recipients
    publish(
        stream="staff",
        kind="automation.notification",
        data={
            "ticket_id": ticket.pk if ticket else None,
            "team_id": ticket.team_id if ticket else None,
            "assignee_id": ticket.assignee_id if ticket else None,
            "user_ids": recipients,
            "message": message[:1000],
            "rule": rule_name,
            "link": link,
        },
    )
    return recipients


def hide_entry_content(*, entry: Entry, reason: str, via: str) -> bool:
    """Marks a message to be shown to agents only behind a warning; False when it already is.

    The text itself is kept untouched (it is the customer's message and the
    evidence); ``metadata["content_warning"]`` tells the ticket page to fold it.
    """
    entry = Entry.objects.select_for_update().get(pk=entry.pk)
    if (entry.metadata or {}).get("content_warning"):
        return False
    entry.metadata = {**(entry.metadata or {}), "content_warning": {"reason": reason, "via": via}}
    entry.save(update_fields=["metadata"])
    # Re-index the ticket: the hidden text leaves the search index (and its snippets).
    note_ticket_change(ticket_ids=[entry.ticket_id])
    return True


def _record_rule_fired(ticket: Ticket, rule: RoutingRule) -> None:
    # The audit trail of tickets is the one place agents look for "why did
    # this change"; a rule that fired is recorded there even when it only notified.
    AuditEvent.objects.create(
        ticket=ticket, field="rule", before="", after=rule.name[:255], via=rule.audit_via
    )


def apply_rule(
    *, rule: RoutingRule, ticket: Ticket, entry_id: int | None
) -> tuple[list[str], bool]:
    """Carries out a matched rule's actions through the ticket actions (so each change is
    audited "via rule: <name>"); returns what it did and whether processing stops."""
    from concierge.automation import assignment

    via = rule.audit_via
    done: list[str] = []
    stop = False
    changes: dict[str, Any] = {}
    add_tags: list[str] = []
    remove_tags: list[str] = []
    custom_fields: dict[str, Any] = {}
    follow_ups: list[dict[str, Any]] = []
    current_rank = PRIORITY_RANK[Priority(ticket.priority)]
    for action in rule.actions:
        kind = action["type"]
        if kind in ("set_team", "escalate"):
            team = Team.objects.filter(pk=action["team"]).first()
            if team is None:
                done.append(f"skipped {kind}: team {action['team']} no longer exists")
                continue
            changes["team"] = team
            if kind == "escalate":
                wanted = Priority(action.get("priority", "high"))
                if PRIORITY_RANK[wanted] > current_rank:
                    changes["priority"] = wanted
                add_tags.append(ESCALATED_TAG)
                escalated = f"Ticket #{ticket.pk} was escalated to {team.name}."
                follow_ups.append(
                    {"type": "notify", "recipients": "team", "via": "both", "message": escalated}
                )
        elif kind == "set_priority":
            changes["priority"] = action["priority"]
        elif kind == "add_tags":
            add_tags.extend(action["tags"])
        elif kind == "remove_tags":
            remove_tags.extend(action["tags"])
        elif kind == "set_custom_field":
            custom_fields[action["key"]] = action["value"]
        elif kind == "stop":
            stop = True
        else:
            follow_ups.append(action)
    if add_tags:
        changes["add_tags"] = add_tags
    if remove_tags:
        changes["remove_tags"] = remove_tags
    if custom_fields:
        changes["custom_fields"] = custom_fields
    _record_rule_fired(ticket, rule)
    if changes:
        ticket = update_ticket(actor=None, ticket=ticket, changes=changes, via=via)
        done.append("changed " + ", ".join(sorted(changes)))
    for action in follow_ups:
        kind = action["type"]
        if kind == "assign":
            ticket.refresh_from_db()
            if action["agent"] == "team_strategy":
                routing = TeamRouting.objects.filter(team__tickets=ticket).first()
                strategy = (
                    routing.strategy
                    if routing and routing.strategy != AssignmentStrategy.MANUAL
                    else AssignmentStrategy.LEAST_OPEN
                )
                agent = assignment.assign_ticket(ticket_id=ticket.pk, strategy=strategy, via=via)
                done.append(f"assigned to {agent}" if agent else "no free agent: queued")
            else:
                agent = User.objects.filter(pk=action["agent"], is_active=True).first()
                if agent is not None and agent.pk != ticket.assignee_id:
                    ticket = update_ticket(
                        actor=None, ticket=ticket, changes={"assignee": agent}, via=via
                    )
                    done.append(f"assigned to {agent}")
        elif kind == "notify":
            ticket.refresh_from_db()
            notified = _notify(ticket, action, rule)
            done.append(f"notified {len(notified)} agents")
        elif kind == "hide_content":
            entry = services.trigger_entry(ticket, entry_id)
            if entry is not None and hide_entry_content(
                entry=entry, reason=action["reason"], via=via
            ):
                AuditEvent.objects.create(
                    ticket=ticket, field="content_warning", before="",
                    after=f"message {entry.pk} hidden: {action['reason']}"[:255], via=via,
                )  # fmt: skip
                done.append(f"hid message {entry.pk}")
    return done, stop


PIPELINE_EVENTS = tuple(RuleEvent.values)


@transaction.atomic
def process_ticket_event(
    *, ticket_id: int, event: str, entry_id: int | None = None
) -> PipelineRun | None:
    """Triage, then the routing rules in order, then the team's assignment strategy.

    Safe to run twice: the first run records a ``PipelineRun`` for
    (ticket, event, entry) under the ticket's row lock; a second run finds it
    and does nothing. Returns the run, or None when there was nothing to do.
    """
    if event not in PIPELINE_EVENTS:
        raise ValidationFailed(f"Unknown ticket event {event[:32]!r}.")
    rules = [
        rule for rule in RoutingRule.objects.filter(is_active=True) if event in (rule.events or [])
    ]
    ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
    if ticket is None:
        return None
    routing = TeamRouting.objects.filter(team__tickets=ticket).first()
    auto_assign = routing is not None and routing.strategy != AssignmentStrategy.MANUAL
    if not (django_settings.TRIAGE_ENABLED or rules or auto_assign):
        return None  # nothing would happen: no row, no queries beyond these
    run, created = PipelineRun.objects.get_or_create(
        ticket=ticket, event=event, entry_key=entry_id or 0
    )
    if not created:
        return None
    _triage(ticket.pk, entry_id)
    if ticket.tags.filter(name=SPAM_TAG).exists():
        run.outcome = "spam: not routed"
        run.save(update_fields=["outcome"])
        return run
    fired: list[dict[str, Any]] = []
    context = services.rule_context(ticket=ticket, event=event, entry_id=entry_id)
    for rule in rules:
        matched, _ = evaluate_group(rule.conditions or {"all": []}, context)
        if not matched:
            continue
        try:
            with transaction.atomic():
                done, stop = apply_rule(rule=rule, ticket=ticket, entry_id=entry_id)
        except ConciergeError as error:
            # A rule that no longer fits the desk (a field made stricter) is
            # reported and skipped; the other rules still run.
            logger.warning("Rule %s failed on ticket %s: %s", rule.pk, ticket.pk, error.message)
            fired.append({"id": rule.pk, "name": rule.name, "error": error.message[:200]})
            continue
        fired.append({"id": rule.pk, "name": rule.name, "did": done})
        if stop:
            break
        ticket.refresh_from_db()
        context = services.rule_context(ticket=ticket, event=event, entry_id=entry_id)
    from concierge.automation import assignment

    ticket.refresh_from_db()
    assigned = None
    if ticket.assignee_id is None and ticket.team_id is not None:
        assigned = assignment.assign_ticket(ticket_id=ticket.pk, via="routing")
    run.fired_rules = fired
    run.assigned_to = assigned
    run.outcome = (
        f"assigned to {assigned.name}"[:255]
        if assigned
        else ("waiting in the team queue" if ticket.assignee_id is None and ticket.team_id else "")
    )
    run.save(update_fields=["fired_rules", "assigned_to", "outcome"])
    return run


def fill_free_capacity(*, agent_id: int) -> int:
    """An agent came online or freed a slot: drain the queues of their teams (oldest first)."""
    from concierge.automation import assignment

    return sum(
        assignment.drain_team_queue(team_id) for team_id in assignment.teams_of_agent(agent_id)
    )


# --- in-app notifications ---------------------------------------------------------------------


def mark_notifications_read(
    *, actor: Any, notification_id: int | None = None, ticket_id: int | None = None
) -> int:
    """Marks ``actor``'s notifications read (one, those about a ticket, or all); how many changed.

    Only the recipient's own rows are touched: an id of someone else's
    notification changes nothing. When something changed, the agent's other
    open workspaces are told the new unread count (an event naming only
    them), so every bell agrees without a reload. Not wrapped in a
    transaction: the ticket page calls this on every open, and one UPDATE
    that changes nothing is all it costs there; the event is only a hint.
    """
    policy.require(policy.is_staff(actor), "Only staff have notifications.")
    unread = AgentNotification.objects.filter(user=actor, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    if ticket_id is not None:
        unread = unread.filter(ticket_id=ticket_id)
    changed = unread.update(read_at=timezone.now())
    if changed:
        events.publish(
            stream="staff",
            kind="automation.notifications_read",
            data={
                "user_ids": [actor.pk],
                "ticket_id": ticket_id,
                "unread": services.unread_notification_count(user=actor),
            },
        )
    return changed
