"""Reads for automation: business hours, routing rules and their dry runs, team queues."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.utils import timezone

from concierge.automation.models import (
    WEEKDAYS,
    AgentNotification,
    AgentRoutingProfile,
    AssignmentStrategy,
    BusinessHours,
    PipelineRun,
    RoutingRule,
    TeamRouting,
)
from concierge.automation.rules import ConditionResult, KnownIds, RuleContext, evaluate_group
from concierge.core import policy
from concierge.core.errors import NotFound
from concierge.tickets.models import Entry, EntryKind, Ticket


def _parse_clock(value: str) -> time | None:
    """``"HH:MM"`` -> time; ``"24:00"`` -> None, meaning the end of the day."""
    if value == "24:00":
        return None
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _intervals_on(hours: BusinessHours, day: date) -> list[tuple[time, time | None]]:
    if day.isoformat() in set(hours.holidays or []):
        return []
    raw = (hours.schedule or {}).get(WEEKDAYS[day.weekday()], [])
    return [(_parse_clock(start) or time(0), _parse_clock(end)) for start, end in raw]


def is_open(*, hours: BusinessHours | None, at: datetime) -> bool:
    """True when ``at`` (aware) falls inside the schedule; no business hours means always open."""
    if hours is None:
        return True
    local = at.astimezone(ZoneInfo(hours.timezone))
    clock = local.time().replace(tzinfo=None)
    for start, end in _intervals_on(hours, local.date()):
        if start <= clock and (end is None or clock < end):
            return True
    return False


def next_opening(*, hours: BusinessHours | None, at: datetime) -> datetime | None:
    """The next time (UTC-aware) the schedule opens at or after ``at``; None when it never does.

    Looks ahead 370 days so a year of holidays cannot hide the next opening.
    """
    if hours is None or is_open(hours=hours, at=at):
        return at
    zone = ZoneInfo(hours.timezone)
    local = at.astimezone(zone)
    for offset in range(370):
        day = local.date() + timedelta(days=offset)
        for start, _end in sorted(_intervals_on(hours, day), key=lambda pair: pair[0]):
            opening = datetime.combine(day, start, tzinfo=zone)
            if opening >= local:
                return opening.astimezone(at.tzinfo)
    return None


# --- routing rules: reads ------------------------------------------------------------------------


def list_rules(*, user: Any) -> QuerySet[RoutingRule]:
    """Every routing rule in evaluation order (admins)."""
    policy.require(policy.can_manage_routing(user), "Only admins see routing rules.")
    return RoutingRule.objects.order_by("position", "id")


def get_rule(*, user: Any, rule_id: int) -> RoutingRule:
    rule = list_rules(user=user).filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("No such rule.")
    return rule


def list_business_hours(*, user: Any) -> QuerySet[BusinessHours]:
    policy.require(policy.can_manage_routing(user), "Only admins see business hours.")
    return BusinessHours.objects.order_by("name")


def get_business_hours(*, user: Any, hours_id: int) -> BusinessHours:
    hours = list_business_hours(user=user).filter(pk=hours_id).first()
    if hours is None:
        raise NotFound("No such business hours.")
    return hours


def known_ids(conditions: Any = None) -> KnownIds:
    """The ids a rule may name. Organizations are many, so only the ones the rule names are read."""
    from concierge.accounts.models import Role, Team, User
    from concierge.customers.models import Organization
    from concierge.tickets.models import CustomField

    named_organizations = _referenced_ids(conditions, "organization")
    mailboxes: list[int] = []
    chat_channels: list[int] = []
    try:
        from concierge.mail.models import Mailbox

        mailboxes = list(Mailbox.objects.values_list("pk", flat=True))
    except ImportError:  # pragma: no cover - the mail app is always installed today
        pass
    try:
        from concierge.chat.models import ChatChannel

        chat_channels = list(ChatChannel.objects.values_list("pk", flat=True))
    except ImportError:  # pragma: no cover
        pass
    return KnownIds(
        teams=frozenset(Team.objects.values_list("pk", flat=True)),
        agents=frozenset(
            User.objects.filter(is_active=True, role__in=(Role.ADMIN, Role.AGENT)).values_list(
                "pk", flat=True
            )
        ),
        mailboxes=frozenset(mailboxes),
        organizations=frozenset(
            Organization.objects.filter(pk__in=named_organizations).values_list("pk", flat=True)
        ),
        business_hours=frozenset(BusinessHours.objects.values_list("pk", flat=True)),
        chat_channels=frozenset(chat_channels),
        custom_fields=frozenset(
            CustomField.objects.filter(is_active=True).values_list("key", flat=True)
        ),
    )


def _referenced_ids(document: Any, field_name: str) -> set[int]:
    """Integer values of every condition on ``field_name`` in a (not yet validated) document."""
    found: set[int] = set()
    if isinstance(document, dict):
        if document.get("field") == field_name:
            value = document.get("value")
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, int) and not isinstance(item, bool):
                    found.add(item)
        for child in document.values():
            if isinstance(child, list | dict):
                found |= _referenced_ids(child, field_name)
    elif isinstance(document, list):
        for child in document[:1000]:
            found |= _referenced_ids(child, field_name)
    return found


def trigger_entry(ticket: Ticket, entry_id: int | None) -> Entry | None:
    """The message an event is about: the given entry, else the ticket's first message."""
    entries = Entry.objects.filter(ticket=ticket)
    if entry_id is not None:
        entry = entries.filter(pk=entry_id).first()
        if entry is not None:
            return entry
    return entries.filter(kind=EntryKind.PUBLIC_REPLY).order_by("created_at", "id").first()


def _mailbox_of(ticket: Ticket, first_entry: Entry | None) -> int | None:
    try:
        from concierge.mail.models import InboundMessage
    except ImportError:  # pragma: no cover
        return None
    email = (first_entry.metadata or {}).get("email") if first_entry else None
    if isinstance(email, dict) and email.get("inbound_message_id"):
        mailbox_id = (
            InboundMessage.objects.filter(pk=email["inbound_message_id"])
            .values_list("mailbox_id", flat=True)
            .first()
        )
        if mailbox_id:
            return int(mailbox_id)
    mailbox_id = (
        InboundMessage.objects.filter(ticket=ticket)
        .order_by("id")
        .values_list("mailbox_id", flat=True)
        .first()
    )
    return int(mailbox_id) if mailbox_id else None


def _chat_channel_of(first_entry: Entry | None) -> int | None:
    chat = (first_entry.metadata or {}).get("chat") if first_entry else None
    channel_id = chat.get("channel_id") if isinstance(chat, dict) else None
    return channel_id if isinstance(channel_id, int) else None


def predicted_labels(ticket_id: int) -> dict[str, tuple[str, float]]:
    """kind -> (label, confidence), corrections winning; empty when the AI app is not there."""
    try:
        from concierge.ai.services import effective_labels
    except ImportError:
        return {}
    return effective_labels(ticket_id)


def rule_context(
    *, ticket: Ticket, event: str, entry_id: int | None = None, at: datetime | None = None
) -> RuleContext:
    """Everything rules look at for one event on ``ticket``, read once."""
    ticket = Ticket.objects.select_related("requester", "organization").get(pk=ticket.pk)
    entry = trigger_entry(ticket, entry_id)
    first_entry = (
        Entry.objects.filter(ticket=ticket, kind=EntryKind.PUBLIC_REPLY)
        .order_by("created_at", "id")
        .first()
    )
    requester = ticket.requester
    organization = ticket.organization
    now = at or timezone.now()
    hours_cache: dict[int, bool] = {}

    def hours_open(hours_id: int) -> bool:
        if hours_id not in hours_cache:
            hours = BusinessHours.objects.filter(pk=hours_id).first()
            hours_cache[hours_id] = is_open(hours=hours, at=now)
        return hours_cache[hours_id]

    return RuleContext(
        event=event,
        channel=ticket.channel,
        priority=ticket.priority,
        team_id=ticket.team_id,
        organization_id=ticket.organization_id,
        mailbox_id=_mailbox_of(ticket, first_entry) if ticket.channel == "email" else None,
        chat_channel_id=_chat_channel_of(first_entry),
        subject=ticket.subject,
        body=entry.body_source if entry else "",
        tags=set(ticket.tags.values_list("name", flat=True)),
        customer_tags=set(requester.tags.values_list("name", flat=True)),
        customer_language=requester.language or "",
        customer_attributes=requester.custom_attributes or {},
        organization_attributes=(organization.custom_attributes or {}) if organization else {},
        labels=predicted_labels(ticket.pk),
        now=now,
        is_open=hours_open,
        custom_fields=dict(ticket.custom_fields or {}),
    )


@dataclass(frozen=True)
class RulePreview:
    """What one rule would do to a ticket now: the "test rule" page's row."""

    rule: RoutingRule
    listens: bool
    matched: bool
    would_fire: bool
    conditions: list[ConditionResult]
    actions: list[str]


def describe_actions(actions_per_rule: Sequence[Sequence[dict[str, Any]]]) -> list[list[str]]:
    """Each action of each rule as a line a person reads ("Set team to Billing").

    Team and agent names for all of them come in two queries.
    """
    from concierge.accounts.models import Team, User

    team_ids, agent_ids = set(), set()
    for actions in actions_per_rule:
        for action in actions:
            if action.get("type") in ("set_team", "escalate"):
                team_ids.add(_as_id(action.get("team")))
            elif action.get("type") == "assign" and action.get("agent") != "team_strategy":
                agent_ids.add(_as_id(action.get("agent")))
    names = {
        "team": dict(Team.objects.filter(pk__in=team_ids).values_list("pk", "name")),
        "agent": {user.pk: user.name for user in User.objects.filter(pk__in=agent_ids)},
    }
    return [[_describe(action, names) for action in actions] for actions in actions_per_rule]


def _as_id(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _describe(action: dict[str, Any], names: dict[str, dict[int, str]]) -> str:
    """One action as a line, with the team and agent names already fetched."""
    kind = action.get("type")
    if kind in ("set_team", "escalate"):
        name = names["team"].get(_as_id(action.get("team"))) or (
            f"team {action.get('team')} (deleted)"
        )
        if kind == "escalate":
            return f"Escalate to {name} (priority at least {action.get('priority', 'high')})"
        return f"Set team to {name}"
    if kind == "set_priority":
        return f"Set priority to {action.get('priority')}"
    if kind in ("add_tags", "remove_tags"):
        verb = "Add" if kind == "add_tags" else "Remove"
        return f"{verb} tags {', '.join(action.get('tags', []))}"
    if kind == "set_custom_field":
        return f"Set field {action.get('key')} to {action.get('value')!r}"
    if kind == "assign":
        if action.get("agent") == "team_strategy":
            return "Assign by the team's strategy"
        agent = names["agent"].get(_as_id(action.get("agent")))
        return f"Assign to {agent or 'a deleted agent'}"
    if kind == "notify":
        recipients = action.get("recipients")
        who = recipients if isinstance(recipients, str) else f"{len(recipients or [])} agents"
        how = {"in_app": "in the app", "email": "by email"}.get(
            str(action.get("via", "both")), "in the app and by email"
        )
        return f"Notify {who} {how}"
    if kind == "hide_content":
        return f"Hide the message behind a warning ({action.get('reason', '')})"
    if kind == "stop":
        return "Stop: no later rule runs"
    return str(kind)


def preview_rules(
    *, user: Any, ticket: Ticket, event: str, rules: Iterable[RoutingRule] | None = None
) -> list[RulePreview]:
    """What the rules would do to ``ticket`` on ``event`` now, in order, honouring "stop".

    Nothing is written. Rules are evaluated against the ticket as it is: the
    changes an earlier rule would make are not applied before the next one.
    """
    policy.require(policy.can_manage_routing(user), "Only admins test routing rules.")
    policy.require_ticket_visible(user, ticket)
    context = rule_context(ticket=ticket, event=event)
    previews = []
    stopped = False
    in_order = list(rules if rules is not None else RoutingRule.objects.filter(is_active=True))
    described = describe_actions([rule.actions for rule in in_order])
    for rule, actions in zip(in_order, described, strict=True):
        listens = event in (rule.events or [])
        matched, results = evaluate_group(rule.conditions or {"all": []}, context)
        would_fire = listens and matched and rule.is_active and not stopped
        previews.append(
            RulePreview(
                rule=rule,
                listens=listens,
                matched=matched,
                would_fire=would_fire,
                conditions=results,
                actions=actions,
            )
        )
        if would_fire and any(action.get("type") == "stop" for action in rule.actions):
            stopped = True
    return previews


# --- queues and team routing: reads ------------------------------------------------------------


@dataclass(frozen=True)
class TeamQueue:
    team: Any
    strategy: str
    strategy_label: str
    require_skill_match: bool
    waiting: int
    oldest_waiting_since: datetime | None
    agents: list[tuple[Any, int]]  # (agent, open tickets)


def team_queues(*, user: Any) -> list[TeamQueue]:
    """Each team's strategy and queue (waiting count, oldest wait) with its agents' loads."""
    from concierge.accounts.models import Team
    from concierge.automation.assignment import ASSIGNING_ROLES, open_ticket_counts, queue_summary

    policy.require(policy.can_view_routing(user), "Only agents see team queues.")
    teams = list(Team.objects.prefetch_related("members").order_by("name"))
    routing = {row.team_id: row for row in TeamRouting.objects.all()}
    summary = queue_summary(team.pk for team in teams)
    members = {
        team.pk: [m for m in team.members.all() if m.is_active and m.role in ASSIGNING_ROLES]
        for team in teams
    }
    loads = open_ticket_counts({m.pk for team_members in members.values() for m in team_members})
    queues = []
    for team in teams:
        row = routing.get(team.pk)
        waiting, oldest = summary[team.pk]
        queues.append(
            TeamQueue(
                team=team,
                strategy=row.strategy if row else AssignmentStrategy.MANUAL,
                strategy_label=AssignmentStrategy(
                    row.strategy if row else AssignmentStrategy.MANUAL
                ).label,
                require_skill_match=bool(row and row.require_skill_match),
                waiting=waiting,
                oldest_waiting_since=oldest,
                agents=[(m, loads.get(m.pk, 0)) for m in members[team.pk]],
            )
        )
    return queues


def agent_profiles(*, user: Any) -> dict[int, AgentRoutingProfile]:
    """agent id -> skills and languages (admins)."""
    policy.require(policy.can_manage_routing(user), "Only admins see agent skills.")
    return {profile.user_id: profile for profile in AgentRoutingProfile.objects.all()}


def ticket_pipeline_runs(*, user: Any, ticket: Ticket) -> QuerySet[PipelineRun]:
    """The processed events of a ticket, newest first, with the rules that fired."""
    policy.require(policy.can_view_routing(user))
    policy.require_ticket_visible(user, ticket)
    return PipelineRun.objects.filter(ticket=ticket).select_related("assigned_to")


# --- in-app notifications ---------------------------------------------------------------------

NOTIFICATIONS_SHOWN = 50


def notifications(*, user: Any, limit: int = NOTIFICATIONS_SHOWN) -> list[AgentNotification]:
    """``user``'s latest notifications, newest first (only their own)."""
    if not policy.is_staff(user):
        return []
    return list(AgentNotification.objects.filter(user=user).select_related("ticket")[:limit])


def unread_notification_count(*, user: Any) -> int:
    if not policy.is_staff(user):
        return 0
    return AgentNotification.objects.filter(user=user, read_at__isnull=True).count()


def get_notification(*, user: Any, notification_id: int) -> AgentNotification | None:
    """One of ``user``'s own notifications, or None (someone else's is None too)."""
    if not policy.is_staff(user):
        return None
    return AgentNotification.objects.filter(user=user, pk=notification_id).first()
