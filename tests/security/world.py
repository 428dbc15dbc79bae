"""One fixed world for the access matrix, and a fingerprint of the database.

The world holds every kind of record an endpoint can point at, built with
the real domain actions so it looks like data the app made itself:

* organization A (members do *not* see each other's requests) and B;
* customers ``owner`` (A, requester of ticket T), ``colleague`` (A, not on T)
  and ``outsider`` (B), each with a portal sign-in; ``duplicate`` (A, no
  sign-in) to merge;
* staff: a light agent, an agent (with an avatar and a personal view), an admin;
* ticket T with a public reply and an internal note, each with an attachment;
  a second open ticket and a closed ticket of the owner; a team, a custom
  field, a shared saved view, a mailbox; one API token per signed-in actor.

``database_fingerprint`` digests every row of the project's tables, so a test
can prove that a refused request changed nothing.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client

from concierge.accounts.actions import create_api_token, save_team
from concierge.accounts.models import User
from concierge.customers.models import Customer, Organization
from concierge.mail.models import Mailbox
from concierge.tickets.actions import (
    NewAttachment,
    add_entry,
    create_ticket,
    save_custom_field,
    save_saved_view,
    update_ticket,
)
from concierge.tickets.models import Attachment, EntryKind, Status, Ticket
from tests.factories import (
    PASSWORD,
    CustomerFactory,
    make_admin,
    make_agent,
    make_customer_user,
    make_light_agent,
)

ANONYMOUS = "anonymous"
OWNER = "owner"
COLLEAGUE = "colleague"
OUTSIDER = "outsider"
LIGHT_AGENT = "light_agent"
AGENT = "agent"
ADMIN = "admin"
ACTORS = (ANONYMOUS, OWNER, COLLEAGUE, OUTSIDER, LIGHT_AGENT, AGENT, ADMIN)
CUSTOMERS = (OWNER, COLLEAGUE, OUTSIDER)
STAFF = (LIGHT_AGENT, AGENT, ADMIN)

PUBLIC_REPLY_TEXT = "Your parcel left the depot this morning."
INTERNAL_NOTE_TEXT = "Refund approved by finance, do not tell the customer yet."
PUBLIC_FILE = b"tracking number: 1Z999"
NOTE_FILE = b"finance approval memo"
CUSTOMER_NOTES = "Asked twice for a goodwill refund."
ORGANIZATION_NOTES = "Contract renewal at risk."
# What no customer and no anonymous visitor may ever read, in any response.
STAFF_ONLY_SECRETS = (
    INTERNAL_NOTE_TEXT.encode(),
    NOTE_FILE,
    b"approval.txt",
    CUSTOMER_NOTES.encode(),
    ORGANIZATION_NOTES.encode(),
)

# A 1x1 transparent PNG: the agent's avatar.
PNG_PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


@dataclass
class World:
    users: dict[str, User]
    tokens: dict[str, str]
    token_ids: dict[str, int]
    organization_a: Organization
    organization_b: Organization
    owner_customer: Customer
    colleague_customer: Customer
    outsider_customer: Customer
    duplicate_customer: Customer
    ticket: Ticket
    second_ticket: Ticket
    closed_ticket: Ticket
    public_attachment: Attachment
    note_attachment: Attachment
    team_id: int
    field_id: int
    field_key: str
    shared_view_id: int
    personal_view_id: int
    mailbox_id: int
    mailbox_secret: str
    # Session keys of the signed-in actors, made once (see ``sign_in_everyone``).
    sessions: dict[str, str] = field(default_factory=dict)

    def user(self, actor: str) -> User | None:
        return self.users.get(actor)


def build_world() -> World:
    organization_a = Organization.objects.create(
        name="Acme", domains=["acme.test"], notes=ORGANIZATION_NOTES
    )
    organization_b = Organization.objects.create(name="Globex", domains=["globex.test"])
    owner = make_customer_user(organization_a, name="Olive Owner", email="olive@acme.test")
    colleague = make_customer_user(organization_a, name="Carl Colleague", email="carl@acme.test")
    outsider = make_customer_user(organization_b, name="Otto Outsider", email="otto@globex.test")
    duplicate: Customer = CustomerFactory(  # type: ignore[assignment]
        organization=organization_a, name="Olive O. (old record)", email="olive.old@acme.test"
    )
    light_agent = make_light_agent(email="light@concierge.test", name="Lee Light")
    agent = make_agent(email="agent@concierge.test", name="Alan Agent")
    admin = make_admin(email="admin@concierge.test", name="Ada Admin")
    agent.avatar.save("alan.png", ContentFile(PNG_PIXEL), save=True)

    team = save_team(actor=admin, name="Billing", description="Money", member_ids=[agent.pk])
    custom_field = save_custom_field(
        actor=admin, key="order_number", label="Order number", field_type="text"
    )
    shared_view = save_saved_view(
        actor=admin, name="Urgent billing", filters={"priority": ["urgent"]}, shared=True
    )
    personal_view = save_saved_view(
        actor=agent, name="Alan's pile", filters={"assignee": "me"}, shared=False
    )

    owner_customer: Customer = owner.customer  # type: ignore[attr-defined]
    owner_customer.notes = CUSTOMER_NOTES
    owner_customer.save(update_fields=["notes"])
    ticket = create_ticket(
        actor=owner,
        requester=owner_customer,
        subject="Where is my parcel?",
        body="It was due on Monday.",
    )
    reply = add_entry(
        actor=agent,
        ticket=ticket,
        body=PUBLIC_REPLY_TEXT,
        kind=EntryKind.PUBLIC_REPLY,
        attachments=[NewAttachment("tracking.txt", PUBLIC_FILE, "text/plain")],
    )
    note = add_entry(
        actor=agent,
        ticket=ticket,
        body=INTERNAL_NOTE_TEXT,
        kind=EntryKind.INTERNAL_NOTE,
        attachments=[NewAttachment("approval.txt", NOTE_FILE, "text/plain")],
    )
    second_ticket = create_ticket(
        actor=owner, requester=owner_customer, subject="Also: wrong size", body="Size M, not L."
    )
    closed_ticket = create_ticket(
        actor=owner, requester=owner_customer, subject="Old question", body="Answered long ago."
    )
    update_ticket(actor=agent, ticket=closed_ticket, changes={"status": Status.CLOSED})

    mailbox = Mailbox.objects.create(name="Support", address="help@concierge.test")

    users = {
        OWNER: owner,
        COLLEAGUE: colleague,
        OUTSIDER: outsider,
        LIGHT_AGENT: light_agent,
        AGENT: agent,
        ADMIN: admin,
    }
    tokens: dict[str, str] = {}
    token_ids: dict[str, int] = {}
    for actor, user in users.items():
        token, secret = create_api_token(actor=user, name="access matrix")
        tokens[actor], token_ids[actor] = secret, token.pk
    return World(
        users=users,
        tokens=tokens,
        token_ids=token_ids,
        organization_a=organization_a,
        organization_b=organization_b,
        owner_customer=owner_customer,
        colleague_customer=colleague.customer,  # type: ignore[attr-defined]
        outsider_customer=outsider.customer,  # type: ignore[attr-defined]
        duplicate_customer=duplicate,
        ticket=ticket,
        second_ticket=second_ticket,
        closed_ticket=closed_ticket,
        public_attachment=reply.attachments.get(),
        note_attachment=note.attachments.get(),
        team_id=team.pk,
        field_id=custom_field.pk,
        field_key=custom_field.key,
        shared_view_id=shared_view.pk,
        personal_view_id=personal_view.pk,
        mailbox_id=mailbox.pk,
        mailbox_secret=mailbox.inbound_secret,
    )


def sign_in_everyone(world: World) -> None:
    """Opens one session per signed-in actor; requests then just present its cookie."""
    for actor, user in world.users.items():
        client = Client()
        client.force_login(user)
        world.sessions[actor] = client.cookies[settings.SESSION_COOKIE_NAME].value


# --- proving that nothing changed ----------------------------------------------

# Columns a request may touch without changing anything a user decided:
# signing in stamps last_login, token use stamps last_used_at.
VOLATILE_COLUMNS = {
    ("accounts", "user"): {"last_login"},
    ("accounts", "apitoken"): {"last_used_at"},
}


@functools.cache
def _fingerprint_queries() -> tuple[tuple[str, str], ...]:
    """(table, SELECT of every column that matters) for each table of the project's apps."""
    queries = []
    quote = connection.ops.quote_name
    for config in apps.get_app_configs():
        if not config.name.startswith("concierge."):
            continue
        for model in config.get_models(include_auto_created=True):
            meta = model._meta
            if meta.proxy or not meta.managed:
                continue
            skipped = VOLATILE_COLUMNS.get((meta.app_label, meta.model_name or ""), set())
            columns = [f.column for f in meta.concrete_fields if f.attname not in skipped]
            select = ", ".join(quote(column) for column in columns)
            order = quote(meta.pk.column)
            # Names from the models' own metadata, quoted: no outside input.
            query = f"SELECT {select} FROM {quote(meta.db_table)} ORDER BY {order}"  # noqa: S608
            queries.append((meta.db_table, query))
    return tuple(queries)


def database_fingerprint() -> dict[str, str]:
    """``{table: "rows:digest"}`` over every column that matters, in one pass of plain SQL."""
    fingerprint = {}
    with connection.cursor() as cursor:
        for table, query in _fingerprint_queries():
            cursor.execute(query)
            rows = cursor.fetchall()
            digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
            fingerprint[table] = f"{len(rows)}:{digest}"
    return fingerprint


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(
        table for table in before.keys() | after.keys() if before.get(table) != after.get(table)
    )


def credentials(world: World, actor: str) -> dict[str, Any]:
    """The email and password an actor signs in with (a stranger's for anonymous)."""
    user = world.user(actor)
    return {"email": user.email if user else "nobody@nowhere.test", "password": PASSWORD}
