"""Automation: business hours (shared by chat, routing and SLAs), rules and assignment."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from concierge.core.models import TimestampedModel

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BusinessHours(TimestampedModel):
    """When a team works: a weekly schedule in one time zone, minus holidays.

    ``schedule`` maps a weekday key (``mon`` .. ``sun``) to a list of
    ``["HH:MM", "HH:MM"]`` intervals in local time; a missing or empty day is
    closed. An end of ``"24:00"`` means midnight at the end of that day.
    ``holidays`` is a list of ``YYYY-MM-DD`` local dates that are closed all day.
    Stored as data (not rows per interval) because it is edited and read as
    one unit and is small; ``automation.actions.save_business_hours`` validates it.
    """

    name = models.CharField(max_length=120, unique=True)
    timezone = models.CharField(max_length=64, default="UTC")
    schedule = models.JSONField(default=dict, blank=True)
    holidays = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "business hours"

    def __str__(self) -> str:
        return self.name


# --- routing rules ------------------------------------------------------------------------


class RuleEvent(models.TextChoices):
    """What happened to a ticket; each rule lists the events it listens to."""

    TICKET_CREATED = "ticket_created", "A new ticket arrives"
    CUSTOMER_REPLY = "customer_reply", "The customer writes again"


class RoutingRule(TimestampedModel):
    """An admin's "when these conditions hold, do these things", evaluated in ``position`` order.

    ``conditions`` and ``actions`` are JSON documents checked by
    ``automation.rules.validate_rule`` before they are stored (the schema is
    documented there and on the rule form); a stored rule is always valid.
    They are data rather than rows per condition because admins edit, copy
    and test a rule as one unit, and the evaluator reads it whole.
    """

    name = models.CharField(max_length=120, unique=True)
    description = models.CharField(max_length=500, blank=True)
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)
    events = models.JSONField(default=list, blank=True)
    conditions = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=list, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_via(self) -> str:
        """The "via" marker on audit events this rule causes (AuditEvent.via holds 64 chars)."""
        return f"rule: {self.name}"[:64]


class PipelineRun(models.Model):
    """One processed ticket event: makes the pipeline safe to run twice, and records what fired.

    ``entry_key`` is the triggering entry's id, or 0 for events without one
    (a NULL would not take part in the unique constraint).
    """

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="pipeline_runs"
    )
    event = models.CharField(max_length=32)
    entry_key = models.BigIntegerField(default=0)
    fired_rules = models.JSONField(default=list, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "event", "entry_key"], name="unique_pipeline_run_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.ticket_id} {self.event}"


# --- assignment -------------------------------------------------------------------------------


class AssignmentStrategy(models.TextChoices):
    MANUAL = "manual", "Manual (agents pick tickets)"
    ROUND_ROBIN = "round_robin", "Round robin"
    LEAST_OPEN = "least_open", "Least open tickets"
    SKILLS = "skills", "Skills-based"


class TeamRouting(TimestampedModel):
    """How a team's unassigned tickets find an agent.

    Kept here, keyed by team, rather than as columns on ``accounts.Team``:
    assignment is automation's business (the strategy, the round-robin
    pointer that moves on every assignment), a team without a row is simply
    manual, and the row doubles as the lock that serialises one team's
    assignments (``select_for_update``) without locking the team itself.
    """

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="routing")
    strategy = models.CharField(
        max_length=16, choices=AssignmentStrategy.choices, default=AssignmentStrategy.MANUAL
    )
    require_skill_match = models.BooleanField(
        default=False,
        help_text="Skills-based only: wait for an agent with a matching skill or language "
        "rather than give the ticket to anyone free.",
    )
    last_assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "team routing"

    def __str__(self) -> str:
        return f"{self.team_id}: {self.strategy}"


class AgentRoutingProfile(TimestampedModel):
    """What an agent is good at, for skills-based assignment.

    ``skills`` are lower-case words matched against a ticket's predicted
    intent (category name) and its tags; ``languages`` are language codes
    ("en", "fr") matched against the predicted language. Availability and
    capacity stay on ``accounts.User``, where the agent and admins set them.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="routing_profile"
    )
    skills = models.JSONField(default=list, blank=True)
    languages = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {', '.join(self.skills)}"


# --- in-app notifications -------------------------------------------------------------------


class AgentNotification(models.Model):
    """A notice for one agent in the workspace (a rule's "notify", an escalation).

    Kept per recipient with its read time, so the bell counts what this agent
    has not seen yet and the list survives a reload or a closed laptop (the
    live event on the socket is only the fast path).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    message = models.CharField(max_length=1000)
    rule_name = models.CharField(max_length=200, blank=True)
    # A workspace page the notice is about when that is not a ticket (an article's
    # flags): a path the server built, opened instead of the list.
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "read_at"], name="agent_notification_unread"),
            models.Index(fields=["user", "-created_at"], name="agent_notification_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.message[:40]}"
