"""The access decision for every URL of the app, per actor: the table the matrix enforces.

One ``Rule`` per (URL name, HTTP method, variant). ``outcomes`` says, for each
of the seven actors (see ``world.ACTORS``), what must happen:

* ``ALLOW``: 2xx, or a redirect that is not to a sign-in page; an allowed
  write must change the database (unless ``changes=False``);
* ``DENY``: 401 / 403 / 404; anonymous visitors get a redirect to a sign-in
  page (HTML) or a 401 (API); nothing changes;
* ``NOT_FOUND``: exactly 404, so the record's existence does not leak; nothing changes;
* ``REFUSE``: the page handles the request and says no (a form error, or a
  redirect back with an error message); nothing changes;
* ``SIGN_IN``: a redirect to a sign-in page (signing out); nothing changes.

A new URL without a rule here fails ``test_every_url_has_an_access_rule``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.tokens import default_token_generator
from django.core.files.base import ContentFile
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from concierge.accounts.actions import make_email_confirmation_token, make_magic_link_token
from concierge.mail.models import (
    InboundMessage,
    InboundStatus,
    OutboundKind,
    OutboundMessage,
    OutboundStatus,
)
from tests.security.world import (
    ACTORS,
    ADMIN,
    AGENT,
    CUSTOMERS,
    LIGHT_AGENT,
    OWNER,
    STAFF,
    World,
    credentials,
)

ALLOW = "allow"
DENY = "deny"
NOT_FOUND = "not_found"
REFUSE = "refuse"
SIGN_IN = "sign_in"

Value = Callable[[World, str], Any]  # (world, actor) -> value
Outcomes = dict[str, str]


def outcomes(default: str, **by_actor: str) -> Outcomes:
    """Every actor gets ``default`` unless named."""
    unknown = set(by_actor) - set(ACTORS)
    assert not unknown, f"unknown actors {unknown}"
    return {actor: by_actor.get(actor, default) for actor in ACTORS}


def _each(actors: tuple[str, ...], outcome: str) -> dict[str, str]:
    return dict.fromkeys(actors, outcome)


EVERYONE = outcomes(ALLOW)
NOBODY_FINDS = outcomes(NOT_FOUND)
STAFF_ONLY = outcomes(DENY, **_each(STAFF, ALLOW))
FULL_AGENTS = outcomes(DENY, agent=ALLOW, admin=ALLOW)
ADMINS = outcomes(DENY, admin=ALLOW)
CUSTOMERS_ONLY = outcomes(DENY, **_each(CUSTOMERS, ALLOW))
# Ticket T and what hangs off it: its requester and staff; other customers never learn it exists.
OWNER_AND_STAFF = outcomes(ALLOW, anonymous=DENY, colleague=NOT_FOUND, outsider=NOT_FOUND)
# The portal's pages about T: only its requester (staff use the workspace).
OWNER_IN_PORTAL = outcomes(
    DENY, owner=ALLOW, colleague=NOT_FOUND, outsider=NOT_FOUND, **_each(STAFF, DENY)
)


@dataclass(frozen=True)
class Rule:
    name: str
    method: str
    outcomes: Outcomes
    variant: str = ""
    params: dict[str, Value] = field(default_factory=dict)
    query: str = ""
    body: dict[str, Any] | Value | None = None
    changes: bool = True  # an allowed write changes the database
    url: str = ""  # for patterns that cannot be reversed (catch-alls)
    # "user": a session or personal token; "mailbox": a mailbox's own secret (mail webhooks),
    # which no user credential replaces, so an anonymous caller gets 403 there, not 401.
    credential: str = "user"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.method, self.variant)

    def body_for(self, world: World, actor: str) -> dict[str, Any]:
        if self.body is None:
            return {}
        return self.body(world, actor) if callable(self.body) else dict(self.body)


# --- URL parameters: filled from the world --------------------------------------------


def _own_notification(world: World, actor: str) -> int:
    """An unread notification of the actor (of the agent for actors who have none)."""
    from concierge.automation.models import AgentNotification

    user = world.user(actor)
    owner = user if user is not None and user.role in ("admin", "agent", "light_agent") else None
    notice = AgentNotification.objects.create(
        user=owner or world.users[AGENT], ticket=world.ticket, message="Look at T."
    )
    return notice.pk


DEFAULT_PARAMS: dict[str, Value] = {
    "ticket_id": lambda w, a: w.ticket.pk,
    "customer_id": lambda w, a: w.owner_customer.pk,
    "organization_id": lambda w, a: w.organization_a.pk,
    "attachment_id": lambda w, a: w.public_attachment.pk,
    "token_id": lambda w, a: w.token_ids[AGENT],
    "agent_id": lambda w, a: w.users[AGENT].pk,
    "team_id": lambda w, a: w.team_id,
    "field_id": lambda w, a: w.field_id,
    "view_id": lambda w, a: w.shared_view_id,
    "view_slug": lambda w, a: f"saved-{w.shared_view_id}",
    "uidb64": lambda w, a: urlsafe_base64_encode(force_bytes(w.users[OWNER].pk)),
    "token": lambda w, a: "not-a-valid-reset-token",
    "name": lambda w, a: "swagger-ui.css",
    "mailbox_id": lambda w, a: w.mailbox_id,
    "message_id": lambda w, a: quarantined_mail(w, a),  # defined below
    "outbound_id": lambda w, a: failed_reply_email(w, a),
    "public_key": lambda w, a: chat_channel(w).public_key,  # defined below
    "channel_id": lambda w, a: chat_channel(w).pk,
    "signed": lambda w, a: "not-a-signed-link",
    "rule_id": lambda w, a: routing_rule(w, a),  # defined below
    "hours_id": lambda w, a: business_hours(w, a),
}
# (route prefix, parameter) -> value, where a name means something else under a prefix.
ROUTE_PARAMS: dict[tuple[str, str], Value] = {
    # Computed when the request is made: signing in changes last_login, which the token signs.
    ("portal/magic-link/", "token"): lambda w, a: make_magic_link_token(
        type(w.users[OWNER]).objects.get(pk=w.users[OWNER].pk)
    ),
    # The owner's address is confirmed already: opening the link again changes nothing.
    ("portal/confirm/", "token"): lambda w, a: make_email_confirmation_token(w.users[OWNER]),
}


def chat_channel(world: World) -> Any:
    """The matrix's chat channel (made on first use; each case's savepoint rolls it back)."""
    from concierge.chat.models import ChatChannel

    channel, _ = ChatChannel.objects.get_or_create(
        name="Matrix chat", defaults={"allowed_origins": ["https://shop.example.com"]}
    )
    return channel


def _chat_channel_form(world: World, actor: str) -> dict[str, Any]:
    return {
        "name": "Matrix chat renamed", "is_active": "on",
        "allowed_origins": "https://www.example.com", "title": "Chat with us",
        "greeting": "Hello!", "offline_message": "We are away.", "primary_color": "#2f5bea",
        "text_color": "#ffffff", "language": "en", "idle_timeout_minutes": "30",
    }  # fmt: skip


# Routing records, made like the mail records above: when the URL is built, rolled back after.
def routing_rule(world: World, actor: str) -> int:
    from concierge.automation.models import RoutingRule

    rule, _ = RoutingRule.objects.get_or_create(
        name="Matrix rule",
        defaults={
            "events": ["ticket_created"],
            "conditions": {"all": []},
            "actions": [{"type": "add_tags", "tags": ["matrix"]}],
        },
    )
    return rule.pk


def business_hours(world: World, actor: str) -> int:
    from concierge.automation.models import BusinessHours

    hours, _ = BusinessHours.objects.get_or_create(
        name="Matrix hours", defaults={"timezone": "UTC"}
    )
    return hours.pk


def _routing_rule_form(world: World, actor: str) -> dict[str, Any]:
    routing_rule(world, actor)
    return {
        "name": "Matrix rule, renamed",
        "events": "ticket_created",
        "conditions": '{"all": [{"field": "text", "operator": "contains_any", '
        '"value": ["refund"]}]}',
        "actions": f'[{{"type": "set_team", "team": {world.team_id}}}]',
        "is_active": "on",
    }


NEW_ROUTING_RULE_FORM = {
    "name": "Refunds",
    "events": "ticket_created",
    "conditions": '{"all": []}',
    "actions": '[{"type": "add_tags", "tags": ["refund"]}]',
    "is_active": "on",
}
NEW_HOURS_FORM = {"name": "Office", "timezone": "Europe/Paris", "mon": "09:00-17:00"}


def note_attachment(world: World, actor: str) -> int:
    return world.note_attachment.pk


def closed_ticket(world: World, actor: str) -> int:
    return world.closed_ticket.pk


def duplicate_customer(world: World, actor: str) -> int:
    return world.duplicate_customer.pk


def personal_view(world: World, actor: str) -> int:
    return world.personal_view_id


def owner_user(world: World, actor: str) -> int:
    return world.users[OWNER].pk


def valid_reset_token(world: World, actor: str) -> str:
    return default_token_generator.make_token(world.users[OWNER])


# Mail records are made when a case's URL is built (before the database is fingerprinted);
# each case's savepoint rolls them back, so every case finds exactly one.
RAW_MAIL = b"From: Olive <olive@acme.test>\r\nSubject: Parcel\r\n\r\nStill waiting.\r\n"


def _inbound(world: World, *, message_id: str, status: str, ticket: Any, error: str = "") -> int:
    found = InboundMessage.objects.filter(mailbox_id=world.mailbox_id, message_id=message_id)
    if existing := found.first():
        return existing.pk
    message = InboundMessage(
        mailbox_id=world.mailbox_id,
        source="smtp",
        raw_size=len(RAW_MAIL),
        sha256=message_id.ljust(64, "0")[:64],
        message_id=message_id,
        sender="olive@acme.test",
        subject="Parcel",
        status=status,
        error=error,
        ticket=ticket,
    )
    message.raw.save("message.eml", ContentFile(RAW_MAIL), save=False)
    message.save()
    return message.pk


def ticket_mail(world: World, actor: str) -> int:
    """A message received by mail that became part of ticket T."""
    return _inbound(
        world,
        message_id="matrix-ticket@acme.test",
        status=InboundStatus.PROCESSED,
        ticket=world.ticket,
    )


def quarantined_mail(world: World, actor: str) -> int:
    return _inbound(
        world,
        message_id="matrix-quarantine@acme.test",
        status=InboundStatus.QUARANTINED,
        ticket=None,
        error="ValidationFailed: The message has no readable From address.",
    )


def failed_reply_email(world: World, actor: str) -> int:
    """The email of T's public reply, refused by the server."""
    entry = world.public_attachment.entry
    message, _ = OutboundMessage.objects.get_or_create(
        entry=entry,
        kind=OutboundKind.REPLY,
        defaults={
            "mailbox_id": world.mailbox_id,
            "ticket": world.ticket,
            "message_id": "matrix-reply@concierge.test",
            "from_header": "Support <help@concierge.test>",
            "to": ["olive@acme.test"],
            "subject": f"Re: {world.ticket.subject}",
            "body_text": "Your parcel left the depot.",
            "status": OutboundStatus.FAILED,
            "attempts": 1,
            "last_error": "SMTPRecipientsRefused: olive@acme.test: 550 unknown",
        },
    )
    return message.pk


# --- bodies ---------------------------------------------------------------------------


def _sign_in(world: World, actor: str) -> dict[str, Any]:
    return credentials(world, actor)


def _ticket_for(world: World, actor: str) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": "Matrix ticket", "body": "Created by the access matrix."}
    if actor not in CUSTOMERS:  # customers always open tickets for themselves
        body["requester"] = {"id": world.owner_customer.pk}
    return body


def _workspace_new_ticket(world: World, actor: str) -> dict[str, Any]:
    return {
        "customer": world.owner_customer.pk,
        "subject": "Phoned in",
        "body": "The customer called about their order.",
        "channel": "phone",
        "priority": "normal",
    }


def _bulk(world: World, actor: str) -> dict[str, Any]:
    return {"ticket_ids": [world.ticket.pk], "action": "priority", "priority": "high"}


def _properties(world: World, actor: str) -> dict[str, Any]:
    return {
        "status": "pending",
        "priority": "high",
        "assignee": str(world.users[AGENT].pk),
        "team": str(world.team_id),
        "tags": "parcel",
        "due_at": "",
        "ccs": "",
        f"cf_{world.field_key}": "A-1001",
    }


def _customer_form(world: World, actor: str) -> dict[str, Any]:
    return {
        "name": "Olive Owner-Smith",
        "organization": str(world.organization_a.pk),
        "language": "en",
        "time_zone": "Europe/Paris",
        "notes": "Prefers email.",
    }


def _merge_into_owner(world: World, actor: str) -> dict[str, Any]:
    return {"target": str(world.owner_customer.pk)}


def _agent_update_form(world: World, actor: str) -> dict[str, Any]:
    prefix = f"agent-{world.users[AGENT].pk}"
    return {f"{prefix}-role": "agent", f"{prefix}-capacity": "7", f"{prefix}-is_active": "on"}


def _promote_owner_form(world: World, actor: str) -> dict[str, Any]:
    prefix = f"agent-{world.users[OWNER].pk}"
    return {f"{prefix}-role": "admin", f"{prefix}-capacity": "7", f"{prefix}-is_active": "on"}


def _team_form(world: World, actor: str) -> dict[str, Any]:
    return {"name": "Billing and refunds", "description": "", "members": [world.users[AGENT].pk]}


def _field_form(world: World, actor: str) -> dict[str, Any]:
    return {
        "key": world.field_key,
        "label": "Order no.",
        "field_type": "text",
        "position": "0",
        "is_active": "on",
    }


def _merge_tickets(world: World, actor: str) -> dict[str, Any]:
    return {"source_ids": [world.second_ticket.pk]}


def _merge_customer(world: World, actor: str) -> dict[str, Any]:
    return {"source_id": world.duplicate_customer.pk}


def _mailbox_form(world: World, actor: str) -> dict[str, Any]:
    return {
        "name": "Support desk",
        "address": "help@concierge.test",
        "default_team": str(world.team_id),
        "is_active": "on",
        "imap_port": "993",
        "imap_folder": "INBOX",
        "imap_after_import": "flag_seen",
        "smtp_port": "587",
        "smtp_security": "starttls",
        "smtp_password": "new-smtp-password",
        "max_attachment_mb": "20",
        "spam_threshold": "5",
        "max_messages_per_sender_per_hour": "20",
        "acknowledgement_subject": "We received your request: {subject}",
        "acknowledgement_template": "Hello {customer_name}",
        "assignment_notification_template": "#{ticket_id} is yours",
        "customer_reply_notification_template": "{author_name} replied",
    }


def _new_mailbox_form(world: World, actor: str) -> dict[str, Any]:
    return {**_mailbox_form(world, actor), "name": "Sales", "address": "sales@concierge.test"}


INBOUND = {"From": "olive@acme.test", "Subject": "Hi", "TextBody": "Hello", "timestamp": "1"}
NEW_FIELD = {"key": "new_field", "label": "New field", "field_type": "text", "position": "0"}
NEW_VIEW_FORM = {"name": "New view", "sort": "-updated_at", "position": "0", "status": ["open"]}
SIGN_UP = {"name": "Nina New", "email": "nina@newcomer.test", "password": "tangerine-kayak-71"}
RESET_PASSWORD = {"new_password1": "tangerine-kayak-71", "new_password2": "tangerine-kayak-71"}

# Sign-in pages answer the same to everyone; signed-in staff skip the workspace form.
STAFF_SIGN_IN = outcomes(REFUSE, **_each(STAFF, ALLOW))
CUSTOMER_SIGN_IN = outcomes(REFUSE, **_each(CUSTOMERS, ALLOW))

RULES: list[Rule] = [
    # --- probes -----------------------------------------------------------------------
    Rule("healthz", "GET", EVERYONE),
    Rule("readyz", "GET", EVERYONE),
    # --- agent workspace: signing in ----------------------------------------------------
    # Home routes everyone: staff to the inbox, customers to the portal, others to sign in.
    Rule("workspace:home", "GET", outcomes(ALLOW, anonymous=DENY)),
    Rule("workspace:login", "GET", EVERYONE),
    Rule("workspace:login", "POST", STAFF_SIGN_IN, body=_sign_in, changes=False),
    Rule("workspace:logout", "POST", outcomes(SIGN_IN)),
    Rule("workspace:password_reset", "GET", EVERYONE),
    Rule(
        "workspace:password_reset",
        "POST",
        EVERYONE,
        body={"email": "agent@concierge.test"},
        changes=False,
    ),
    Rule("workspace:password_reset_done", "GET", EVERYONE),
    Rule("workspace:password_reset_confirm", "GET", EVERYONE),
    Rule("workspace:password_reset_confirm", "POST", outcomes(REFUSE), body=RESET_PASSWORD),
    Rule("workspace:password_reset_complete", "GET", EVERYONE),
    # --- agent workspace: profile and tokens ------------------------------------------
    Rule("workspace:profile", "GET", STAFF_ONLY),
    Rule(
        "workspace:profile",
        "POST",
        STAFF_ONLY,
        body={"name": "Renamed Person", "availability": "away", "signature": "Cheers"},
    ),
    Rule("workspace:availability", "POST", STAFF_ONLY, body={"availability": "away"}),
    Rule("workspace:token_create", "POST", STAFF_ONLY, body={"name": "Reporting"}),
    # The agent's own token: nobody else may revoke it, not even an admin.
    Rule("workspace:token_revoke", "POST", outcomes(DENY, agent=ALLOW)),
    Rule("workspace:avatar", "GET", STAFF_ONLY),
    # --- agent workspace: inbox and tickets ------------------------------------------
    Rule("workspace:inbox_default", "GET", STAFF_ONLY),
    Rule("workspace:inbox", "GET", STAFF_ONLY),
    Rule(
        "workspace:inbox",
        "GET",
        STAFF_ONLY,
        variant="built-in",
        params={"view_slug": lambda w, a: "all-open"},
    ),
    Rule(
        "workspace:inbox",
        "GET",
        outcomes(DENY, agent=ALLOW),
        variant="personal",
        params={"view_slug": lambda w, a: f"saved-{w.personal_view_id}"},
    ),
    Rule("workspace:inbox_save_view", "POST", STAFF_ONLY, body={"name": "My parcels"}),
    # A personal view belongs to its owner alone; shared views are the admins'.
    Rule(
        "workspace:personal_view_rename",
        "POST",
        outcomes(DENY, agent=ALLOW),
        variant="personal",
        params={"view_id": personal_view},
        body={"name": "Renamed"},
    ),
    Rule(
        "workspace:personal_view_rename",
        "POST",
        ADMINS,
        variant="shared",
        body={"name": "Renamed"},
    ),
    Rule(
        "workspace:personal_view_delete",
        "POST",
        outcomes(DENY, agent=ALLOW),
        variant="personal",
        params={"view_id": personal_view},
    ),
    Rule("workspace:personal_view_delete", "POST", ADMINS, variant="shared"),
    Rule(
        "workspace:inbox_bulk",
        "POST",
        outcomes(DENY, light_agent=REFUSE, agent=ALLOW, admin=ALLOW),
        body=_bulk,
    ),
    Rule("workspace:ticket_new", "GET", STAFF_ONLY, query="?customer={customer_id}"),
    Rule("workspace:ticket_new", "POST", FULL_AGENTS, body=_workspace_new_ticket),
    Rule("workspace:ticket", "GET", STAFF_ONLY),
    Rule(
        "workspace:ticket_add_entry",
        "POST",
        outcomes(DENY, light_agent=REFUSE, agent=ALLOW, admin=ALLOW),
        variant="reply",
        body={"kind": "reply", "body": "We are on it."},
    ),
    Rule(
        "workspace:ticket_add_entry",
        "POST",
        STAFF_ONLY,
        variant="note",
        body={"kind": "note", "body": "Checking the depot."},
    ),
    Rule("workspace:ticket_properties", "POST", FULL_AGENTS, body=_properties),
    Rule(
        "workspace:ticket_quick_action",
        "POST",
        outcomes(DENY, light_agent=REFUSE, agent=ALLOW, admin=ALLOW),
        body={"action": "solve"},
    ),
    # Downloads serve the portal too: the requester gets public files, never a note's.
    Rule("workspace:attachment", "GET", OWNER_AND_STAFF),
    Rule(
        "workspace:attachment",
        "GET",
        outcomes(ALLOW, anonymous=DENY, **_each(CUSTOMERS, NOT_FOUND)),
        variant="note",
        params={"attachment_id": note_attachment},
    ),
    Rule("workspace:search", "GET", STAFF_ONLY, query="?q=parcel"),
    # --- agent workspace: customers and organizations -------------------------------
    Rule("workspace:customers", "GET", STAFF_ONLY),
    Rule("workspace:customer", "GET", STAFF_ONLY),
    Rule("workspace:customer_edit", "POST", FULL_AGENTS, body=_customer_form),
    Rule(
        "workspace:customer_merge",
        "POST",
        FULL_AGENTS,
        params={"customer_id": duplicate_customer},
        body=_merge_into_owner,
    ),
    Rule("workspace:organizations", "GET", STAFF_ONLY),
    Rule("workspace:organization", "GET", STAFF_ONLY),
    # --- agent workspace: desk settings (admins) --------------------------------------
    Rule("workspace:settings", "GET", ADMINS),
    Rule("workspace:settings_agents", "GET", ADMINS),
    Rule(
        "workspace:settings_agents",
        "POST",
        ADMINS,
        body={"name": "Nora New", "email": "nora@concierge.test", "role": "agent"},
    ),
    Rule("workspace:settings_agent_update", "POST", ADMINS, body=_agent_update_form),
    # A customer's sign-in is not an agent: no role for it here, not even from an admin.
    Rule(
        "workspace:settings_agent_update",
        "POST",
        outcomes(DENY, admin=NOT_FOUND),
        variant="customer-account",
        params={"agent_id": owner_user},
        body=_promote_owner_form,
    ),
    Rule("workspace:settings_teams", "GET", ADMINS),
    Rule("workspace:settings_teams", "POST", ADMINS, body={"name": "Returns"}),
    Rule("workspace:settings_team", "GET", ADMINS),
    Rule("workspace:settings_team", "POST", ADMINS, body=_team_form),
    Rule("workspace:settings_team_delete", "GET", ADMINS),
    Rule("workspace:settings_team_delete", "POST", ADMINS),
    Rule("workspace:settings_fields", "GET", ADMINS),
    Rule("workspace:settings_field_new", "GET", ADMINS),
    Rule("workspace:settings_field_new", "POST", ADMINS, body=NEW_FIELD),
    Rule("workspace:settings_field", "GET", ADMINS),
    Rule("workspace:settings_field", "POST", ADMINS, body=_field_form),
    Rule("workspace:settings_field_delete", "POST", ADMINS),
    Rule("workspace:settings_views", "GET", ADMINS),
    Rule("workspace:settings_view_new", "GET", ADMINS),
    Rule("workspace:settings_view_new", "POST", ADMINS, body=NEW_VIEW_FORM),
    Rule("workspace:settings_view", "GET", ADMINS),
    Rule("workspace:settings_view", "POST", ADMINS, body={**NEW_VIEW_FORM, "name": "Renamed"}),
    Rule("workspace:settings_view_delete", "POST", ADMINS),
    Rule("workspace:settings_organizations", "GET", ADMINS),
    Rule(
        "workspace:settings_organization_visibility",
        "POST",
        ADMINS,
        body={"members_see_all_requests": "on"},
    ),
    # --- agent workspace: routing (rules, business hours, assignment: admins; queues: staff) ---
    Rule("workspace:queues", "GET", STAFF_ONLY),
    # Notifications: each staff member their own (someone else's id changes nothing).
    Rule("workspace:notifications", "GET", STAFF_ONLY),
    Rule("workspace:notifications_read_all", "POST", STAFF_ONLY, changes=False),
    Rule("workspace:notifications_read_ticket", "POST", STAFF_ONLY, changes=False),
    Rule(
        "workspace:notification_open",
        "POST",
        STAFF_ONLY,
        params={"notification_id": lambda w, a: _own_notification(w, a)},
    ),
    Rule("workspace:settings_routing", "GET", ADMINS),
    Rule("workspace:settings_routing_new", "GET", ADMINS),
    Rule("workspace:settings_routing_new", "POST", ADMINS, body=NEW_ROUTING_RULE_FORM),
    Rule("workspace:settings_routing_rule", "GET", ADMINS),
    Rule("workspace:settings_routing_rule", "POST", ADMINS, body=_routing_rule_form),
    Rule("workspace:settings_routing_test", "GET", ADMINS),
    Rule(
        "workspace:settings_routing_test",
        "GET",
        ADMINS,
        variant="on-ticket",
        query="?ticket=999999&event=ticket_created",  # an unknown ticket: a form error
    ),
    Rule("workspace:settings_routing_rule_test", "GET", ADMINS),
    # One rule only: moving it changes nothing, but the admin's request is served.
    Rule(
        "workspace:settings_routing_move", "POST", ADMINS, body={"direction": "up"}, changes=False
    ),
    Rule("workspace:settings_routing_toggle", "POST", ADMINS),
    Rule("workspace:settings_routing_delete", "POST", ADMINS),
    Rule("workspace:settings_business_hours", "GET", ADMINS),
    Rule("workspace:settings_business_hours_new", "GET", ADMINS),
    Rule("workspace:settings_business_hours_new", "POST", ADMINS, body=NEW_HOURS_FORM),
    Rule("workspace:settings_business_hours_edit", "GET", ADMINS),
    Rule(
        "workspace:settings_business_hours_edit",
        "POST",
        ADMINS,
        body={**NEW_HOURS_FORM, "name": "Matrix hours", "tue": "10:00-12:00"},
    ),
    Rule("workspace:settings_assignment", "GET", ADMINS),
    Rule(
        "workspace:settings_assignment_team",
        "POST",
        ADMINS,
        body=lambda w, a: {f"team-{w.team_id}-strategy": "round_robin"},
    ),
    Rule(
        "workspace:settings_assignment_agent",
        "POST",
        ADMINS,
        body=lambda w, a: {f"agent-{w.users[AGENT].pk}-skills": "billing, refunds"},
    ),
    # --- agent workspace: email ----------------------------------------------------------
    # Agents who may reply send a failed reply email again; light agents only see it failed.
    Rule("workspace:mail_retry_delivery", "POST", FULL_AGENTS),
    # The original of mail on a ticket: staff; of mail in the quarantine: admins.
    Rule("workspace:mail_original", "GET", STAFF_ONLY, params={"message_id": ticket_mail}),
    Rule("workspace:mail_original", "GET", ADMINS, variant="quarantined"),
    Rule("workspace:settings_mail", "GET", ADMINS),
    Rule("workspace:settings_mailbox_new", "GET", ADMINS),
    Rule("workspace:settings_mailbox_new", "POST", ADMINS, body=_new_mailbox_form),
    Rule("workspace:settings_mailbox", "GET", ADMINS),
    Rule("workspace:settings_mailbox", "POST", ADMINS, body=_mailbox_form),
    Rule("workspace:settings_mailbox_secret", "POST", ADMINS),
    Rule("workspace:settings_mail_quarantine", "GET", ADMINS),
    Rule("workspace:settings_mail_message", "GET", ADMINS),
    Rule("workspace:settings_mail_reprocess", "POST", ADMINS),
    Rule("workspace:settings_mail_discard", "POST", ADMINS),
    # --- agent workspace: live chat channels (admins) and the demo host page ----------------
    Rule("workspace:settings_chat", "GET", ADMINS),
    Rule("workspace:settings_chat_channel_new", "GET", ADMINS),
    Rule("workspace:settings_chat_channel_new", "POST", ADMINS, body=_chat_channel_form),
    Rule("workspace:settings_chat_channel", "GET", ADMINS),
    Rule("workspace:settings_chat_channel", "POST", ADMINS, body=_chat_channel_form),
    Rule("workspace:settings_chat_channel_secret", "POST", ADMINS),
    # Outside DEBUG only admins find it; everyone else (anonymous too) gets a plain 404.
    Rule("workspace:chat_demo_host", "GET", outcomes(NOT_FOUND, admin=ALLOW)),
    # --- chat widget (/widget/): the channel key and an allowed Origin, never a session ------
    # The matrix sends no Origin header, so every channel endpoint refuses (403) and
    # creates nothing, whoever is signed in; tests/chat covers the allowed-origin paths.
    *(
        Rule(f"widget:{name}", method, outcomes(REFUSE), body={"body": "Hi", "ticket_id": 1})
        for name, method in (
            ("config", "GET"),
            ("session", "POST"),
            ("visitor", "POST"),
            ("messages", "POST"),
            ("upload", "POST"),
            ("offline", "POST"),
            ("transcript", "POST"),
            ("end", "POST"),
        )
    ),
    Rule("widget:suggestions", "GET", outcomes(REFUSE), query="q=password"),
    Rule("widget:article", "GET", outcomes(REFUSE), params={"article_id": lambda w, a: 1}),
    Rule("widget:channel_avatar", "GET", NOBODY_FINDS),  # the matrix channel has no picture
    # Agents' pictures appear next to their replies in the widget: public by design.
    Rule("widget:agent_avatar", "GET", EVERYONE),
    Rule("widget:download", "GET", NOBODY_FINDS),  # only a genuine signed link opens a file
    # An image of an article for signed-in customers: a link signed for one visitor.
    Rule("widget:help_file", "GET", NOBODY_FINDS),
    # --- customer portal: signing in ----------------------------------------------------
    Rule("portal:home", "GET", CUSTOMERS_ONLY),
    Rule("portal:signup", "GET", EVERYONE),
    Rule("portal:signup", "POST", EVERYONE, body=SIGN_UP),
    Rule("portal:login", "GET", EVERYONE),
    Rule("portal:login", "POST", CUSTOMER_SIGN_IN, body=_sign_in, changes=False),
    Rule("portal:logout", "POST", outcomes(SIGN_IN)),
    Rule("portal:magic_link", "GET", EVERYONE),
    Rule("portal:magic_link", "POST", EVERYONE, body={"email": "olive@acme.test"}, changes=False),
    Rule("portal:magic_link_sent", "GET", EVERYONE),
    Rule("portal:confirm_sent", "GET", EVERYONE),
    Rule("portal:confirm_email", "GET", EVERYONE),
    Rule(
        "portal:confirm_resend", "POST", EVERYONE, body={"email": "olive@acme.test"}, changes=False
    ),
    # The emailed token is the credential: whoever holds it signs in as the owner.
    Rule("portal:magic_link_confirm", "GET", EVERYONE),
    Rule("portal:magic_link_confirm", "POST", EVERYONE, changes=False),
    Rule("portal:password_reset", "GET", EVERYONE),
    Rule(
        "portal:password_reset", "POST", EVERYONE, body={"email": "olive@acme.test"}, changes=False
    ),
    Rule("portal:password_reset_done", "GET", EVERYONE),
    Rule("portal:password_reset_confirm", "GET", EVERYONE),
    Rule("portal:password_reset_confirm", "POST", outcomes(REFUSE), body=RESET_PASSWORD),
    Rule(
        "portal:password_reset_confirm",
        "GET",
        EVERYONE,
        variant="valid-token",
        params={"token": valid_reset_token},
    ),
    Rule("portal:password_reset_complete", "GET", EVERYONE),
    # --- customer portal: requests -------------------------------------------------------
    Rule("portal:request_list", "GET", CUSTOMERS_ONLY),
    Rule("portal:request_new", "GET", CUSTOMERS_ONLY),
    Rule(
        "portal:request_new",
        "POST",
        CUSTOMERS_ONLY,
        body={"subject": "Another question", "description": "Is there a discount?"},
    ),
    Rule("portal:request_detail", "GET", OWNER_IN_PORTAL),
    Rule("portal:request_reply", "POST", OWNER_IN_PORTAL, body={"body": "Thanks, any update?"}),
    Rule("portal:request_solve", "POST", OWNER_IN_PORTAL),
    Rule(
        "portal:request_follow_up",
        "POST",
        OWNER_IN_PORTAL,
        params={"ticket_id": closed_ticket},
        body={"body": "It happened again."},
    ),
    # --- API: documentation and unknown routes -----------------------------------------
    Rule("api:openapi-json", "GET", EVERYONE),
    Rule("api:openapi-view", "GET", EVERYONE),
    Rule("api:docs-asset", "GET", EVERYONE),
    Rule("api:api-root", "GET", NOBODY_FINDS),
    Rule("api:not-found", "GET", NOBODY_FINDS, url="/api/v1/no-such-route"),
    Rule("api:not-found", "POST", NOBODY_FINDS, url="/api/v1/no-such-route", body={"x": 1}),
    # --- API: inbound mail (a mailbox secret, never a user, lets mail in) ----------------
    *(
        Rule(f"api:receive_{kind}", "POST", outcomes(DENY), credential="mailbox", body=INBOUND)
        for kind in ("raw", "postmark", "mailgun")
    ),
    # --- API: tickets --------------------------------------------------------------------
    Rule("api:list_tickets", "GET", outcomes(ALLOW, anonymous=DENY)),
    Rule(
        "api:create_ticket",
        "POST",
        outcomes(ALLOW, anonymous=DENY, light_agent=DENY),
        body=_ticket_for,
    ),
    # A requester by email is created first; a refused create must roll it back.
    Rule(
        "api:create_ticket",
        "POST",
        FULL_AGENTS,
        variant="requester-by-email",
        body={
            "subject": "For someone else",
            "body": "Opened on behalf of a stranger.",
            "requester": {"email": "stranger@elsewhere.test", "name": "Stranger"},
        },
    ),
    Rule("api:get_ticket", "GET", OWNER_AND_STAFF),
    Rule(
        "api:update_ticket",
        "PATCH",
        outcomes(DENY, colleague=NOT_FOUND, outsider=NOT_FOUND, agent=ALLOW, admin=ALLOW),
        body={"priority": "urgent", "status": "pending"},
    ),
    Rule(
        "api:merge_tickets",
        "POST",
        outcomes(DENY, colleague=NOT_FOUND, outsider=NOT_FOUND, agent=ALLOW, admin=ALLOW),
        body=_merge_tickets,
    ),
    Rule("api:list_entries", "GET", OWNER_AND_STAFF),
    Rule(
        "api:create_entry",
        "POST",
        {**OWNER_AND_STAFF, LIGHT_AGENT: DENY},
        variant="reply",
        body={"kind": "reply", "body": "Any news?"},
    ),
    Rule(
        "api:create_entry",
        "POST",
        {**OWNER_AND_STAFF, OWNER: DENY},
        variant="note",
        body={"kind": "note", "body": "Customer is anxious."},
    ),
    Rule("api:audit_trail", "GET", {**OWNER_AND_STAFF, OWNER: DENY}),
    Rule("api:download_attachment", "GET", OWNER_AND_STAFF),
    Rule(
        "api:download_attachment",
        "GET",
        {**OWNER_AND_STAFF, OWNER: NOT_FOUND},
        variant="note",
        params={"attachment_id": note_attachment},
    ),
    # --- API: customers and organizations ----------------------------------------------
    # Search: every signed-in caller may search; the hits are what each may see.
    Rule("api:search", "GET", outcomes(ALLOW, anonymous=DENY), query="?q=refund"),
    Rule("api:list_customers", "GET", STAFF_ONLY),
    Rule(
        "api:create_customer",
        "POST",
        FULL_AGENTS,
        body={"name": "Nina New", "email": "nina@newcomer.test"},
    ),
    # A customer reads their own record, nobody else's.
    Rule("api:get_customer", "GET", OWNER_AND_STAFF),
    Rule(
        "api:update_customer",
        "PATCH",
        outcomes(DENY, colleague=NOT_FOUND, outsider=NOT_FOUND, agent=ALLOW, admin=ALLOW),
        body={"notes": "VIP"},
    ),
    Rule(
        "api:merge_customer",
        "POST",
        outcomes(DENY, colleague=NOT_FOUND, outsider=NOT_FOUND, agent=ALLOW, admin=ALLOW),
        body=_merge_customer,
    ),
    Rule("api:list_organizations", "GET", STAFF_ONLY),
    Rule("api:create_organization", "POST", FULL_AGENTS, body={"name": "Initech"}),
    Rule(
        "api:create_organization",
        "POST",
        ADMINS,
        variant="members-see-all",
        body={"name": "Initech", "members_see_all_requests": True},
    ),
    # Members read their own organization's record.
    Rule("api:get_organization", "GET", outcomes(ALLOW, anonymous=DENY, outsider=NOT_FOUND)),
    Rule(
        "api:update_organization",
        "PATCH",
        outcomes(DENY, outsider=NOT_FOUND, agent=ALLOW, admin=ALLOW),
        body={"notes": "Key account"},
    ),
    Rule(
        "api:update_organization",
        "PATCH",
        outcomes(DENY, outsider=NOT_FOUND, admin=ALLOW),
        variant="members-see-all",
        body={"members_see_all_requests": True},
    ),
    # --- API: agents, teams, tags, custom fields, views ----------------------------------
    Rule("api:list_agents", "GET", STAFF_ONLY),
    Rule(
        "api:create_agent",
        "POST",
        ADMINS,
        body={"email": "nora@concierge.test", "name": "Nora New", "role": "admin"},
    ),
    Rule("api:get_agent", "GET", STAFF_ONLY),
    Rule(
        "api:update_agent", "PATCH", ADMINS, variant="role", body={"role": "admin", "capacity": 5}
    ),
    Rule(
        "api:update_agent",
        "PATCH",
        outcomes(DENY, admin=NOT_FOUND),
        variant="customer-account",
        params={"agent_id": owner_user},
        body={"role": "admin"},
    ),
    Rule(
        "api:get_agent",
        "GET",
        outcomes(DENY, **_each(STAFF, NOT_FOUND)),
        variant="customer-account",
        params={"agent_id": owner_user},
    ),
    Rule(
        "api:update_agent",
        "PATCH",
        FULL_AGENTS,  # the agent edits their own profile; the admin anyone's
        variant="own-profile",
        body={"signature": "Best, Alan"},
    ),
    Rule("api:list_teams", "GET", STAFF_ONLY),
    Rule("api:create_team", "POST", ADMINS, body={"name": "Returns"}),
    Rule("api:update_team", "PATCH", ADMINS, body={"description": "Refunds too"}),
    Rule("api:list_tags", "GET", STAFF_ONLY),
    # --- API: routing ----------------------------------------------------------------------
    Rule("api:list_routing_rules", "GET", ADMINS),
    Rule(
        "api:create_routing_rule",
        "POST",
        ADMINS,
        body={"name": "Refunds", "events": ["ticket_created"], "actions": [{"type": "stop"}]},
    ),
    Rule("api:get_routing_rule", "GET", ADMINS),
    Rule("api:update_routing_rule", "PATCH", ADMINS, body={"is_active": False}),
    Rule("api:delete_routing_rule", "DELETE", ADMINS),
    Rule(
        "api:reorder_routing_rules",
        "PUT",
        ADMINS,
        body={"rule_ids": []},  # the world has no rules: the order of none, unchanged
        changes=False,
    ),
    Rule(
        "api:test_routing_rules",
        "POST",
        ADMINS,
        body=lambda w, a: {"ticket_id": w.ticket.pk, "event": "ticket_created"},
        changes=False,
    ),
    Rule("api:list_team_queues", "GET", STAFF_ONLY),
    Rule("api:set_team_routing", "PUT", ADMINS, body={"strategy": "least_open"}),
    Rule("api:set_agent_skills", "PUT", ADMINS, body={"skills": ["billing"], "languages": ["en"]}),
    Rule("api:list_custom_fields", "GET", STAFF_ONLY),
    Rule(
        "api:create_custom_field",
        "POST",
        ADMINS,
        body={"key": "new_field", "label": "New", "field_type": "text"},
    ),
    Rule("api:update_custom_field", "PATCH", ADMINS, body={"is_customer_visible": True}),
    Rule("api:list_views", "GET", STAFF_ONLY),
    Rule("api:create_view", "POST", ADMINS, variant="shared", body={"name": "Team view"}),
    Rule(
        "api:create_view",
        "POST",
        STAFF_ONLY,
        variant="personal",
        body={"name": "My view", "shared": False},
    ),
    Rule("api:update_view", "PATCH", ADMINS, variant="shared", body={"name": "Renamed"}),
    Rule("api:delete_view", "DELETE", ADMINS, variant="shared"),
    # Someone's personal view: its owner alone (an admin does not even see it).
    Rule(
        "api:update_view",
        "PATCH",
        outcomes(DENY, agent=ALLOW),
        variant="personal",
        params={"view_id": personal_view},
        body={"name": "Renamed"},
    ),
    Rule(
        "api:delete_view",
        "DELETE",
        outcomes(DENY, agent=ALLOW),
        variant="personal",
        params={"view_id": personal_view},
    ),
]


# --- knowledge base and help center ------------------------------------------------------
# The help center's records are made like the mail records above: when a case's URL is
# built, through the real actions; each case's savepoint rolls them back.


@dataclass(frozen=True)
class KnowledgeWorld:
    category: Any
    section: Any
    public_article: Any
    internal_article: Any
    draft_article: Any
    signed_in_article: Any  # for customers signed in to the portal
    internal_category: Any  # holds only an agents-only article
    internal_section: Any
    image: Any
    internal_file: Any


def knowledge(world: World) -> KnowledgeWorld:
    from concierge.knowledge import actions as kb
    from concierge.knowledge.models import Article, Category
    from concierge.tickets.actions import NewAttachment

    admin, agent = world.users[ADMIN], world.users[AGENT]
    category = Category.objects.filter(name="Matrix help").first()
    if category is None:
        category = kb.save_category(actor=admin, changes={"name": "Matrix help"})
        section = kb.save_section(
            actor=admin, changes={"name": "Basics", "category_id": category.pk}
        )
        hidden_category = kb.save_category(actor=admin, changes={"name": "Matrix internal"})
        hidden_section = kb.save_section(
            actor=admin, changes={"name": "Procedures", "category_id": hidden_category.pk}
        )

        def article(title: str, section_id: int, **extra: Any) -> Any:
            changes = {"section_id": section_id, "title": title, "body": "## Steps\n\nDo it."}
            changes = {"status": "published", **changes, **extra}
            return kb.create_article(actor=agent, changes=changes)

        public = article("Track a parcel", section.pk, tags=["parcel"])
        kb.update_article(actor=agent, article=public, changes={"body": "## Steps\n\nTrack it."})
        internal = article("Matrix internal procedure", hidden_section.pk, visibility="internal")
        article("Matrix draft", section.pk, status="draft")
        article("Matrix statements", section.pk, visibility="signed_in")
        kb.add_attachments(
            actor=agent, article=public, attachments=[NewAttachment("map.png", PNG, "image/png")]
        )
        kb.add_attachments(
            actor=agent, article=internal, attachments=[NewAttachment("memo.pdf", b"%PDF memo")]
        )
        kb.save_branding(actor=admin, changes={}, logo=NewAttachment("logo.png", PNG, "image/png"))
    matrix_articles = Article.objects.filter(section__category__name__startswith="Matrix")
    articles = {a.translations.get().title: a for a in matrix_articles}
    public = articles["Track a parcel"]
    internal = articles["Matrix internal procedure"]
    return KnowledgeWorld(
        category=category,
        section=public.section,
        public_article=public,
        internal_article=internal,
        draft_article=articles["Matrix draft"],
        signed_in_article=articles["Matrix statements"],
        internal_category=internal.section.category,
        internal_section=internal.section,
        image=public.attachments.get(),
        internal_file=internal.attachments.get(),
    )


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


def _slug(article: Any) -> str:
    return str(article.translations.get(locale=article.source_locale).slug)


def _logo_filename(world: World, actor: str) -> str:
    from concierge.knowledge.models import HelpCenterSettings

    knowledge(world)
    return HelpCenterSettings.objects.get(pk=1).logo_filename


def _empty_category(world: World, actor: str) -> int:
    from concierge.knowledge.models import Category

    category, _ = Category.objects.get_or_create(name="Matrix empty", slug="matrix-empty")
    return category.pk


def _empty_section(world: World, actor: str) -> int:
    from concierge.knowledge.models import Section

    section, _ = Section.objects.get_or_create(
        name="Matrix empty", slug="matrix-empty", category_id=knowledge(world).category.pk
    )
    return section.pk


def _view_event(world: World, actor: str) -> dict[str, Any]:
    from concierge.portal.help_views import event_token

    article_id = knowledge(world).public_article.pk
    return {"token": event_token("view", article_id=article_id, locale="en")}


# A body is built after the "before" fingerprint: a route without a help center parameter
# makes the help center records only for the actors allowed to write (whose request
# changes the database anyway); the others are refused before the section is looked up.
WRITERS = (AGENT, ADMIN)


def _section_for(world: World, actor: str, allowed: tuple[str, ...] = WRITERS) -> int:
    return knowledge(world).section.pk if actor in allowed else 0


def _article_form(world: World, actor: str) -> dict[str, Any]:
    return {
        "title": "Track a parcel, revised", "body": "Track it today.", "description": "",
        "section_id": _section_for(world, actor), "status": "published",
        "visibility": "public", "tags": "parcel", "position": "0",
    }  # fmt: skip


def _article_upload(world: World, actor: str) -> dict[str, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {"uploads": SimpleUploadedFile("route.png", PNG, content_type="image/png")}


ZENDESK_EXPORT = b'{"categories": [{"id": 1, "name": "Billing"}], "articles": []}'


def _import_upload(world: World, actor: str) -> dict[str, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    export = SimpleUploadedFile("export.json", ZENDESK_EXPORT, content_type="application/json")
    return {"source": "zendesk", "dry_run": "on", "export": export}


def _checked_import(world: World, actor: str) -> int:
    """A checked (dry-run) upload an admin may import without uploading it again."""
    from django.core.files.base import ContentFile

    from concierge.knowledge.models import HelpCenterImport, ImportStatus

    run = HelpCenterImport(
        source="zendesk", dry_run=True, status=ImportStatus.DONE, export_name="export.json",
        created_by=world.users[ADMIN], report=["Would import from Zendesk Guide: ..."],
    )  # fmt: skip
    run.export.save("export.json", ContentFile(ZENDESK_EXPORT), save=False)
    run.save()
    return run.pk


def _unfollow_token(world: World, actor: str) -> str:
    """An email's signed "stop following" link: whoever holds it may use it."""
    from concierge.knowledge import actions as kb

    owner = world.users[OWNER]
    subscription = kb.follow(actor=owner, article=knowledge(world).public_article)
    return kb.unfollow_token(subscription)


def _open_flag(world: World, actor: str) -> int:
    from concierge.knowledge import actions as kb

    article = knowledge(world).public_article
    return kb.flag_article(actor=world.users[AGENT], article=article, note="Outdated.").pk


def _new_section_api(world: World, actor: str) -> dict[str, Any]:
    category_id = knowledge(world).category.pk if actor == ADMIN else 0
    return {"name": "Returns", "category_id": category_id}


def _new_article_api(world: World, actor: str) -> dict[str, Any]:
    return {"section_id": _section_for(world, actor), "title": "New", "body": "Text."}


KB_PARAMS: dict[str, Value] = {
    "category_id": lambda w, a: knowledge(w).category.pk,
    "section_id": lambda w, a: knowledge(w).section.pk,
    "article_id": lambda w, a: knowledge(w).public_article.pk,
    "slug": lambda w, a: _slug(knowledge(w).public_article),
    "file_id": lambda w, a: knowledge(w).image.pk,
    "filename": lambda w, a: knowledge(w).image.filename,
    "version_id": lambda w, a: knowledge(w).public_article.versions.order_by("number").first().pk,
    "entry_id": lambda w, a: _agent_reply_on_t(w),
}


def _agent_reply_on_t(world: World) -> int:
    """The agent's public reply on ticket T; a draft made from it needs a section to go to."""
    knowledge(world)
    return int(world.public_attachment.entry_id)


KB_INTERNAL_ARTICLE: dict[str, Value] = {
    **KB_PARAMS,
    "article_id": lambda w, a: knowledge(w).internal_article.pk,
    "slug": lambda w, a: _slug(knowledge(w).internal_article),
}
KB_DRAFT_ARTICLE: dict[str, Value] = {
    **KB_PARAMS,
    "article_id": lambda w, a: knowledge(w).draft_article.pk,
    "slug": lambda w, a: _slug(knowledge(w).draft_article),
}
KB_SIGNED_IN_ARTICLE: dict[str, Value] = {
    **KB_PARAMS,
    "article_id": lambda w, a: knowledge(w).signed_in_article.pk,
    "slug": lambda w, a: _slug(knowledge(w).signed_in_article),
}
KB_INTERNAL_STRUCTURE: dict[str, Value] = {
    **KB_PARAMS,
    "category_id": lambda w, a: knowledge(w).internal_category.pk,
    "section_id": lambda w, a: knowledge(w).internal_section.pk,
    "slug": lambda w, a: knowledge(w).internal_section.slug,
}
KB_EMPTY: dict[str, Value] = {
    **KB_PARAMS,
    "category_id": _empty_category,
    "section_id": _empty_section,
}
# Published public content: everyone. Agents-only content: staff; nobody else learns it exists.
STAFF_FIND = outcomes(NOT_FOUND, **_each(STAFF, ALLOW))


def _kb(name: str, method: str, outcome: Outcomes, **kwargs: Any) -> Rule:
    kwargs.setdefault("params", KB_PARAMS)
    return Rule(name, method, outcome, **kwargs)


RULES.extend([
    # --- help center (public, in the portal) -----------------------------------------------
    _kb("robots_txt", "GET", EVERYONE),
    _kb("portal:help_home", "GET", EVERYONE),
    _kb("portal:help_search", "GET", EVERYONE, query="?q=parcel"),
    _kb("portal:help_suggest", "GET", EVERYONE, query="?subject=where+is+my+parcel"),
    _kb("portal:help_theme", "GET", EVERYONE),
    _kb("portal:help_logo", "GET", EVERYONE, params={"filename": _logo_filename}),
    _kb("portal:help_sitemap", "GET", EVERYONE),
    _kb("portal:help_event", "POST", EVERYONE, body=_view_event),
    _kb("portal:help_category", "GET", EVERYONE, params={
        **KB_PARAMS, "slug": lambda w, a: knowledge(w).category.slug}),
    _kb("portal:help_category", "GET", STAFF_FIND, variant="agents-only",
        params={**KB_INTERNAL_STRUCTURE, "slug": lambda w, a: knowledge(w).internal_category.slug}),
    _kb("portal:help_section", "GET", EVERYONE, params={
        **KB_PARAMS, "slug": lambda w, a: knowledge(w).section.slug}),
    _kb("portal:help_section", "GET", STAFF_FIND, variant="agents-only",
        params=KB_INTERNAL_STRUCTURE),
    # Old addresses of an imported help center: only what an import brought redirects
    # (tests/knowledge/test_imports.py follows them); the matrix world imported nothing.
    Rule("imported_zendesk", "GET", NOBODY_FINDS, url="/hc/en-us/articles/360001-Refunds"),
    Rule("imported_helpscout", "GET", NOBODY_FINDS, url="/article/101-reset-your-password"),
    Rule("imported_helpscout", "GET", NOBODY_FINDS, url="/collection/1-getting-started",
         variant="collection"),
    Rule("imported_helpscout", "GET", NOBODY_FINDS, url="/category/10-account",
         variant="category"),
    _kb("portal:help_article_by_id", "GET", EVERYONE),
    _kb("portal:help_article_by_id", "GET", STAFF_FIND, variant="agents-only",
        params=KB_INTERNAL_ARTICLE),
    _kb("portal:help_article", "GET", EVERYONE),
    _kb("portal:help_article", "GET", STAFF_FIND, variant="agents-only",
        params=KB_INTERNAL_ARTICLE),
    # For signed-in customers: visitors are asked to sign in (nothing of it shows).
    _kb("portal:help_article", "GET", outcomes(ALLOW, anonymous=SIGN_IN), variant="signed-in",
        params=KB_SIGNED_IN_ARTICLE),
    _kb("portal:help_vote", "POST", outcomes(ALLOW, anonymous=NOT_FOUND), variant="signed-in",
        params=KB_SIGNED_IN_ARTICLE, body={"helpful": "yes"}),
    # Staff preview drafts; nobody else sees them.
    _kb("portal:help_article", "GET", STAFF_FIND, variant="draft", params=KB_DRAFT_ARTICLE),
    _kb("portal:help_vote", "POST", EVERYONE, body={"helpful": "yes", "comment": "Clear."}),
    _kb("portal:help_vote", "POST", STAFF_FIND, variant="agents-only",
        params=KB_INTERNAL_ARTICLE, body={"helpful": "no"}),
    # Following: signed-in readers of what they may read; an email's link works for anyone.
    _kb("portal:help_article_follow", "POST", outcomes(ALLOW, anonymous=SIGN_IN)),
    _kb("portal:help_article_follow", "POST",
        outcomes(NOT_FOUND, anonymous=SIGN_IN, **_each(STAFF, ALLOW)), variant="agents-only",
        params=KB_INTERNAL_ARTICLE),
    _kb("portal:help_section_follow", "POST", outcomes(ALLOW, anonymous=SIGN_IN)),
    _kb("portal:help_section_follow", "POST",
        outcomes(NOT_FOUND, anonymous=SIGN_IN, **_each(STAFF, ALLOW)), variant="agents-only",
        params=KB_INTERNAL_STRUCTURE),
    _kb("portal:help_following", "GET", outcomes(ALLOW, anonymous=SIGN_IN)),
    _kb("portal:help_unfollow", "GET", EVERYONE, params={**KB_PARAMS, "token": _unfollow_token}),
    _kb("portal:help_unfollow", "POST", EVERYONE, params={**KB_PARAMS, "token": _unfollow_token}),
    _kb("portal:help_file", "GET", EVERYONE),
    _kb("portal:help_file", "GET", STAFF_FIND, variant="agents-only", params={
        **KB_PARAMS, "file_id": lambda w, a: knowledge(w).internal_file.pk,
        "filename": lambda w, a: knowledge(w).internal_file.filename}),
    # --- knowledge base in the workspace -----------------------------------------------------
    _kb("workspace:knowledge", "GET", STAFF_ONLY),
    _kb("workspace:knowledge_article_new", "GET", FULL_AGENTS),
    _kb("workspace:knowledge_article_new", "POST", FULL_AGENTS, body=_article_form),
    _kb("workspace:knowledge_article", "GET", STAFF_ONLY),
    _kb("workspace:knowledge_article", "POST", FULL_AGENTS, body=_article_form),
    _kb("workspace:knowledge_article_delete", "POST", FULL_AGENTS),
    _kb("workspace:knowledge_article_files", "POST", FULL_AGENTS, body=_article_upload),
    _kb("workspace:knowledge_article_file_delete", "POST", FULL_AGENTS),
    _kb("workspace:knowledge_versions", "GET", STAFF_ONLY),
    _kb("workspace:knowledge_article_flag", "POST", STAFF_ONLY, body={"note": "Outdated."}),
    _kb("workspace:knowledge_article_reviewed", "POST", FULL_AGENTS),
    _kb("workspace:knowledge_flag_resolve", "POST", FULL_AGENTS, params={
        **KB_PARAMS, "flag_id": _open_flag}),
    _kb("workspace:knowledge_version_restore", "POST", FULL_AGENTS),
    _kb("workspace:knowledge_structure", "GET", STAFF_ONLY),
    _kb("workspace:knowledge_structure", "POST", ADMINS,
        body={"kind": "category", "name": "Returns", "position": "0"}),
    _kb("workspace:knowledge_category", "GET", ADMINS),
    _kb("workspace:knowledge_category", "POST", ADMINS,
        body={"name": "Matrix help, renamed", "position": "0"}),
    _kb("workspace:knowledge_category_delete", "POST", ADMINS, params=KB_EMPTY),
    _kb("workspace:knowledge_section", "GET", ADMINS),
    _kb("workspace:knowledge_section", "POST", ADMINS, body=lambda w, a: {
        "name": "Basics, renamed", "position": "0", "category_id": knowledge(w).category.pk}),
    _kb("workspace:knowledge_section_delete", "POST", ADMINS, params=KB_EMPTY),
    _kb("workspace:knowledge_branding", "GET", ADMINS),
    _kb("workspace:knowledge_branding", "POST", ADMINS, body={
        "name": "Acme Help", "tagline": "Hi", "primary_color": "#112233",
        "accent_color": "#445566", "text_color": "#000000", "background_color": "#ffffff",
        "default_locale": "en", "locales": "fr"}),
    _kb("workspace:knowledge_reports", "GET", ADMINS),
    _kb("workspace:knowledge_import", "GET", ADMINS),
    _kb("workspace:knowledge_import", "POST", ADMINS, body=_import_upload),
    _kb("workspace:knowledge_import_runs", "GET", ADMINS),
    _kb("workspace:knowledge_import_again", "POST", ADMINS, params={
        **KB_PARAMS, "import_id": _checked_import}),
    _kb("workspace:knowledge_composer_search", "GET", STAFF_ONLY, query="?kb_q=parcel"),
    _kb("workspace:knowledge_from_entry", "POST", FULL_AGENTS),
    # --- API -------------------------------------------------------------------------------------
    _kb("api:list_kb_categories", "GET", EVERYONE),
    _kb("api:create_kb_category", "POST", ADMINS, body={"name": "Returns"}),
    _kb("api:update_kb_category", "PATCH", ADMINS, body={"description": "All about parcels"}),
    _kb("api:delete_kb_category", "DELETE", ADMINS, params=KB_EMPTY),
    _kb("api:list_kb_sections", "GET", EVERYONE),
    _kb("api:create_kb_section", "POST", ADMINS, body=_new_section_api),
    _kb("api:update_kb_section", "PATCH", ADMINS, body={"description": "First steps"}),
    _kb("api:delete_kb_section", "DELETE", ADMINS, params=KB_EMPTY),
    _kb("api:list_kb_articles", "GET", EVERYONE),
    _kb("api:create_kb_article", "POST", FULL_AGENTS, body=_new_article_api),
    _kb("api:get_kb_article", "GET", EVERYONE),
    _kb("api:get_kb_article", "GET", STAFF_FIND, variant="agents-only",
        params=KB_INTERNAL_ARTICLE),
    _kb("api:update_kb_article", "PATCH", FULL_AGENTS, body={"body": "Track it now."}),
    _kb("api:delete_kb_article", "DELETE", FULL_AGENTS),
    _kb("api:list_kb_article_versions", "GET", STAFF_ONLY),
    _kb("api:restore_kb_article_version", "POST", FULL_AGENTS),
    _kb("api:review_kb_article", "POST", FULL_AGENTS),
    _kb("api:list_kb_article_flags", "GET", STAFF_ONLY),
    _kb("api:flag_kb_article", "POST", STAFF_ONLY, body={"note": "Outdated."}),
    _kb("api:resolve_kb_flag", "POST", FULL_AGENTS, params={
        **KB_PARAMS, "flag_id": _open_flag}),
    _kb("api:follow_kb_article", "PUT", outcomes(ALLOW, anonymous=DENY)),
    _kb("api:follow_kb_article", "PUT",
        outcomes(NOT_FOUND, anonymous=DENY, **_each(STAFF, ALLOW)), variant="agents-only",
        params=KB_INTERNAL_ARTICLE),
    # Stopping what one does not follow changes nothing, and is no error.
    _kb("api:unfollow_kb_article", "DELETE", outcomes(ALLOW, anonymous=DENY), changes=False),
    _kb("api:follow_kb_section", "PUT", outcomes(ALLOW, anonymous=DENY)),
    _kb("api:follow_kb_section", "PUT",
        outcomes(NOT_FOUND, anonymous=DENY, **_each(STAFF, ALLOW)), variant="agents-only",
        params=KB_INTERNAL_STRUCTURE),
    _kb("api:unfollow_kb_section", "DELETE", outcomes(ALLOW, anonymous=DENY), changes=False),
])  # fmt: skip


# --- AI triage (predictions, corrections, categories) -------------------------------------------
# Staff read predictions (light agents too); full agents correct them; admins edit categories
# and retrain. Customers never see a prediction, even on their own ticket.


def triage_prediction(world: World, actor: str) -> int:
    from concierge.ai.models import Prediction

    prediction, _ = Prediction.objects.get_or_create(
        ticket=world.ticket,
        kind="sentiment",
        defaults={"label": "neutral", "confidence": 0.6, "model_version": "matrix"},
    )
    return prediction.pk


def triage_category(world: World, actor: str) -> int:
    from concierge.ai.models import Category

    category, _ = Category.objects.get_or_create(name="matrix-billing")
    return category.pk


TRIAGE_PARAMS: dict[str, Value] = {
    "prediction_id": triage_prediction,
    "category_id": triage_category,
}


def _triage(name: str, method: str, outcome: Outcomes, **kwargs: Any) -> Rule:
    return Rule(name, method, outcome, params=TRIAGE_PARAMS, **kwargs)


RULES.extend([
    _triage("workspace:ticket_triage", "GET", STAFF_ONLY),
    _triage("workspace:ticket_triage_correct", "POST", FULL_AGENTS, body={"label": "negative"}),
    _triage("workspace:settings_triage", "GET", ADMINS),
    _triage("workspace:settings_triage_new", "GET", ADMINS),
    _triage("workspace:settings_triage_new", "POST", ADMINS,
            body={"name": "Refunds", "examples": "refund please", "is_active": "on"}),
    _triage("workspace:settings_triage_category", "GET", ADMINS),
    _triage("workspace:settings_triage_category", "POST", ADMINS,
            body={"name": "matrix-billing", "description": "Money", "is_active": "on"}),
    _triage("workspace:settings_triage_category_delete", "POST", ADMINS),
    # Too few labels: nothing is trained, the admin is told why.
    _triage("workspace:settings_triage_retrain", "POST", ADMINS, changes=False),
    _triage("workspace:settings_triage_retrain_status", "GET", ADMINS),
    # Runs the models on a typed message; nothing is stored.
    _triage("workspace:settings_triage_try", "POST", ADMINS, changes=False,
            body={"text": "I was charged twice"}),
    _triage("workspace:settings_triage_template", "POST", ADMINS, body={"template": "software"}),
    _triage("api:ticket_predictions", "GET", STAFF_ONLY),
    _triage("api:correct_prediction", "POST", FULL_AGENTS, body={"label": "negative"}),
    _triage("api:list_categories", "GET", STAFF_ONLY),
    _triage("api:create_category", "POST", ADMINS, body={"name": "Refunds"}),
    _triage("api:update_category", "PATCH", ADMINS, body={"description": "Money back"}),
    _triage("api:delete_category", "DELETE", ADMINS),
    # Queues a background run (202); the run's state lives in the cache, not the database.
    _triage("api:retrain", "POST", ADMINS, changes=False),
    _triage("api:retrain_status", "GET", ADMINS),
    _triage("api:try_triage", "POST", ADMINS, changes=False, body={"text": "I was charged twice"}),
    # What requests were about and how often agents kept the category: admins.
    _triage("workspace:settings_triage_report", "GET", ADMINS),
    _triage("api:triage_report", "GET", ADMINS),
])  # fmt: skip
