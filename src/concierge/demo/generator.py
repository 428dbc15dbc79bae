"""Deterministic demo data: a help desk three months into its life.

The random choices come from one ``random.Random`` seeded with a fixed
number, so two loads give the same people, tickets and text. Only the dates
move: they are laid out backwards from the moment of the load, so the demo
always looks fresh (yesterday's tickets are open, last month's are closed).

Rows are written with ``bulk_create`` inside one transaction: thousands of
tickets through the per-row actions would take minutes, and the actions'
side effects (notifications, events) mean nothing for invented history. The
conversation bodies still go through ``render_markdown`` like every entry.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from concierge.accounts.models import Availability, Role, Team, User
from concierge.core.models import Tag
from concierge.core.sanitize import render_markdown
from concierge.customers.models import Customer, CustomerIdentity, IdentityKind, Organization
from concierge.demo import content
from concierge.demo.content import Conversation, Corpus, Person
from concierge.tickets.models import (
    AuditEvent,
    Channel,
    CustomField,
    Entry,
    EntryKind,
    FieldType,
    Priority,
    Status,
    Ticket,
)

SEED = 20_250_301
DEMO_PASSWORD = "concierge-demo"  # noqa: S105 - printed for everyone on purpose: it is a demo
DEMO_DOMAIN = "demo.concierge.test"
ADMIN_EMAIL = f"admin@{DEMO_DOMAIN}"
AGENT_EMAIL = f"agent@{DEMO_DOMAIN}"
LIGHT_AGENT_EMAIL = f"light@{DEMO_DOMAIN}"
CUSTOMER_EMAIL = f"customer@{DEMO_DOMAIN}"
# Marks the CRM rows the demo created, so --reset removes those and nothing else.
DEMO_MARKER = {"source": "demo data"}

STAFF = [
    # email, name, role, team keys
    (ADMIN_EMAIL, "Ada Okafor", Role.ADMIN, ["billing"]),
    (AGENT_EMAIL, "Sam Rivera", Role.AGENT, ["orders", "technical"]),
    (f"priya@{DEMO_DOMAIN}", "Priya Nair", Role.AGENT, ["technical"]),
    (f"tomas@{DEMO_DOMAIN}", "Tomás Weber", Role.AGENT, ["billing", "orders"]),
    (LIGHT_AGENT_EMAIL, "Lee Park", Role.LIGHT_AGENT, ["technical"]),
]
TEAM_DESCRIPTIONS = {
    "billing": "Payments, refunds, invoices, phone plans and suspended lines.",
    "technical": "No service, mobile data, picture messaging and device set-up.",
    "orders": "Order changes, cancellations, shipping, returns and exchanges.",
}
ORGANIZATIONS = [
    "Northwind Outfitters",
    "Bluebird Logistics",
    "Cedar & Pine Interiors",
    "Harborview Dental",
    "Lumen Analytics",
    "Maple Street Bakery",
    "Orbit Fitness Clubs",
    "Pioneer Credit Union",
    "Quarry Lane Architects",
    "Redwood Veterinary",
    "Silverline Travel",
    "Summit Legal Partners",
    "Tidewater Marine Supply",
    "Urban Sprout Grocers",
    "Vantage Realty",
    "Willow Creek Schools",
    "Atlas Freight",
    "Brightside Pediatrics",
    "Copperleaf Hotels",
    "Driftwood Studios",
    "Evergreen Landscaping",
    "Foxglove Florists",
    "Granite Peak Outdoors",
    "Hollow Oak Brewing",
    "Ironbridge Engineering",
    "Juniper Health",
    "Keystone Printing",
    "Lighthouse Insurance",
    "Meridian Coffee Roasters",
    "Nimbus Software",
]
STATE_TIME_ZONES = {
    "America/Los_Angeles": {"CA", "WA", "OR", "NV"},
    "America/Denver": {"CO", "UT", "NM", "MT", "WY", "ID"},
    "America/Phoenix": {"AZ"},
    "America/Chicago": {
        "TX",
        "IL",
        "MN",
        "WI",
        "MO",
        "LA",
        "OK",
        "KS",
        "IA",
        "NE",
        "TN",
        "AL",
        "MS",
    },
}
LANGUAGES = [("en", 80), ("es", 8), ("fr", 5), ("de", 4), ("pt", 3)]
CHANNEL_WEIGHTS = [
    (Channel.EMAIL, 35),
    (Channel.PORTAL, 20),
    (Channel.CHAT, 15),
    (Channel.SOCIAL, 12),
    (Channel.PHONE, 10),
    (Channel.API, 8),
]
PRIORITY_WEIGHTS = [
    (Priority.LOW, 15),
    (Priority.NORMAL, 60),
    (Priority.HIGH, 20),
    (Priority.URGENT, 5),
]
# Agents answer email, chat and social messages where they came from; the rest from the workspace.
REPLY_CHANNELS = {Channel.EMAIL, Channel.CHAT, Channel.SOCIAL}
CLOSE_AFTER = timedelta(days=4)  # solved tickets close on their own after this long


@dataclass(frozen=True)
class Scale:
    tickets: int = 2000
    customers: int = 200
    organizations: int = 30
    days: int = 90


@dataclass
class Summary:
    staff: int = 0
    teams: int = 0
    organizations: int = 0
    customers: int = 0
    tickets: int = 0
    entries: int = 0
    corpus: str = ""


@dataclass
class Desk:
    """The people the tickets are written between."""

    agents: list[User]
    teams: dict[str, Team]
    team_agents: dict[str, list[User]]
    customers: list[Customer]
    people: dict[int, Person]  # customer id -> the corpus person behind it
    vip_organization_ids: set[int] = field(default_factory=set)
    demo_customer: Customer | None = None


def is_loaded() -> bool:
    """Whether the demo data is in the database (its admin exists)."""
    return User.objects.filter(email=ADMIN_EMAIL).exists()


def _weighted(rng: random.Random, pairs: Sequence[tuple[Any, int]]) -> Any:
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights)[0]


@contextmanager
def explicit_timestamps(*model_classes: type[models.Model]) -> Iterator[None]:
    """Lets the given models keep the ``created_at``/``updated_at`` values we set.

    ``auto_now``/``auto_now_add`` fields overwrite any value on insert, even
    in ``bulk_create``; invented history needs its own dates. Switching the
    flags off for the duration of one load is cheaper than a second pass of
    updates over every row.
    """
    switched = [
        (model_field, model_field.auto_now, model_field.auto_now_add)
        for model_class in model_classes
        for model_field in model_class._meta.concrete_fields
        if isinstance(model_field, models.DateField)
        and (model_field.auto_now or model_field.auto_now_add)
    ]
    for model_field, _, _ in switched:
        model_field.auto_now = model_field.auto_now_add = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for model_field, auto_now, auto_now_add in switched:
            model_field.auto_now, model_field.auto_now_add = auto_now, auto_now_add  # type: ignore[attr-defined]


# --- setup: staff, teams, fields, organizations, customers ---------------------


def _create_staff(
    now: datetime, password_hash: str
) -> tuple[list[User], dict[str, Team], dict[str, list[User]]]:
    users = User.objects.bulk_create(
        [
            User(
                email=email,
                name=name,
                role=role,
                password=password_hash,
                availability=Availability.ONLINE if role != Role.LIGHT_AGENT else Availability.AWAY,
                is_superuser=role == Role.ADMIN,
                created_at=now - timedelta(days=120),
                updated_at=now - timedelta(days=1),
                email_verified_at=now - timedelta(days=120),
                signature=f"{name}, Customer support",
            )
            for email, name, role, _ in STAFF
        ]
    )
    teams = {
        key: Team.objects.create(
            name=content.TEAM_NAMES[key],
            description=TEAM_DESCRIPTIONS[key],
            created_at=now - timedelta(days=120),
            updated_at=now - timedelta(days=120),
        )
        for key in content.TEAM_NAMES
    }
    team_agents: dict[str, list[User]] = {key: [] for key in teams}
    for user, (_, _, role, team_keys) in zip(users, STAFF, strict=True):
        for key in team_keys:
            teams[key].members.add(user)
            if role != Role.LIGHT_AGENT:  # light agents write notes, they hold no tickets
                team_agents[key].append(user)
    return users, teams, team_agents


# Other ways customers name the demo's phones, for the "Phone model" field's detection.
DEVICE_PHRASES = {
    "Galaxy S23": ["s23", "samsung s23", "samsung galaxy s23"],
    "Pixel 7": ["google pixel 7"],
    "iPhone 14": ["apple iphone 14"],
    "OnePlus 11": ["one plus 11"],
    "Smartphone Pro Max": ["pro max"],
}


def _create_custom_fields(now: datetime, devices: Sequence[str]) -> None:
    stamp = {"created_at": now - timedelta(days=120), "updated_at": now - timedelta(days=120)}
    CustomField.objects.bulk_create(
        [
            CustomField(
                key="phone_model",
                label="Phone model",
                field_type=FieldType.DROPDOWN,
                choices=list(devices),
                position=5,
                description="The customer's phone; AI triage fills it from their message.",
                detect_from_messages=True,
                detection_phrases={
                    device: DEVICE_PHRASES[device] for device in devices if device in DEVICE_PHRASES
                },
                **stamp,
            ),
            CustomField(
                key="product_area",
                label="Product area",
                field_type=FieldType.DROPDOWN,
                choices=content.PRODUCT_AREAS,
                is_customer_visible=True,
                position=1,
                description="What the request is about.",
                **stamp,
            ),
            CustomField(
                key="refund_requested",
                label="Refund requested",
                field_type=FieldType.CHECKBOX,
                position=2,
                description="The customer asked for money back.",
                **stamp,
            ),
            CustomField(
                key="order_number",
                label="Order number",
                field_type=FieldType.TEXT,
                is_customer_visible=True,
                position=3,
                description="For example #W2611340.",
                **stamp,
            ),
            CustomField(
                key="resolution",
                label="Resolution",
                field_type=FieldType.DROPDOWN,
                choices=content.RESOLUTIONS,
                is_required_on_solve=True,
                position=4,
                description="How the request ended; required to solve a ticket.",
                **stamp,
            ),
        ]
    )


def _slug(name: str) -> str:
    return "".join(ch for ch in name.lower().replace("&", "and") if ch.isalnum())


def _time_zone(state: str) -> str:
    for zone, states in STATE_TIME_ZONES.items():
        if state in states:
            return zone
    return "America/New_York"


def _create_customers(
    rng: random.Random,
    corpus: Corpus,
    scale: Scale,
    now: datetime,
    agents: list[User],
    password_hash: str,
) -> tuple[list[Customer], dict[int, Person], set[int], Customer]:
    org_count = max(1, min(scale.organizations, len(ORGANIZATIONS)))
    organizations = Organization.objects.bulk_create(
        [
            Organization(
                name=name,
                domains=[f"{_slug(name)}.example"],
                notes=rng.choice(
                    [
                        "",
                        "Annual contract, renews in the spring.",
                        "Prefers email; no calls before 10am.",
                        "Key account.",
                    ]
                ),
                custom_attributes={
                    **DEMO_MARKER,
                    "plan": rng.choice(["Business", "Business", "Enterprise"]),
                    "account_manager": rng.choice(agents).name,
                },
                # The first organization lets its members see each other's requests.
                members_see_all_requests=index == 0,
                created_at=now - timedelta(days=rng.randint(200, 900)),
                updated_at=now - timedelta(days=rng.randint(1, 60)),
            )
            for index, name in enumerate(ORGANIZATIONS[:org_count])
        ]
    )
    vip_ids = {org.pk for org in organizations if org.custom_attributes["plan"] == "Enterprise"}

    people = list(corpus.people)
    rng.shuffle(people)
    people = people[: scale.customers]
    customers: list[Customer] = []
    emails: list[str] = []
    used_emails: set[str] = {CUSTOMER_EMAIL}
    for person in people:
        organization = rng.choice(organizations) if rng.random() < 0.6 else None
        if organization is not None:
            base = f"{person.first_name}.{person.last_name}".lower().replace(" ", "")
            email = f"{base}@{organization.domains[0]}"
        else:
            email = person.email
        suffix = 2
        while email in used_emails:
            local, _, domain = email.partition("@")
            email = f"{local}{suffix}@{domain}"
            suffix += 1
        used_emails.add(email)
        emails.append(email)
        customers.append(
            Customer(
                name=person.name,
                organization=organization,
                language=_weighted(rng, LANGUAGES),
                time_zone=_time_zone(person.state),
                custom_attributes={**DEMO_MARKER, "city": person.city, "state": person.state},
                notes=rng.choice(
                    [
                        "",
                        "",
                        "",
                        "Prefers email over phone.",
                        "Long-time customer.",
                        "Asked not to be contacted on weekends.",
                    ]
                ),
                created_at=now - timedelta(days=rng.randint(95, 900)),
                updated_at=now - timedelta(days=rng.randint(1, 90)),
            )
        )

    # The customer who signs in to the portal, in the organization whose members see all requests.
    demo_person = Person(
        "Casey",
        "Morgan",
        CUSTOMER_EMAIL,
        "12 Harbor Road",
        "Seattle",
        "WA",
        "98101",
        people[0].order_ids if people else (),
    )
    demo_user = User.objects.create(
        email=CUSTOMER_EMAIL,
        name=demo_person.name,
        role=Role.CUSTOMER,
        password=password_hash,
        created_at=now - timedelta(days=200),
        updated_at=now - timedelta(days=3),
        # Confirmed long ago: the portal lets no unconfirmed customer sign in.
        email_verified_at=now - timedelta(days=200),
    )
    demo_customer = Customer(
        name=demo_person.name,
        organization=organizations[0],
        user=demo_user,
        language="en",
        time_zone="America/Los_Angeles",
        custom_attributes={**DEMO_MARKER, "city": "Seattle", "state": "WA"},
        created_at=now - timedelta(days=200),
        updated_at=now - timedelta(days=3),
    )
    customers.append(demo_customer)
    emails.append(CUSTOMER_EMAIL)
    people.append(demo_person)
    customers = Customer.objects.bulk_create(customers)

    identities = [
        CustomerIdentity(customer=customer, kind=IdentityKind.EMAIL, value=email, is_primary=True)
        for customer, email in zip(customers, emails, strict=True)
    ]
    for index, (customer, person) in enumerate(zip(customers, people, strict=True)):
        if rng.random() < 0.35:
            identities.append(
                CustomerIdentity(
                    customer=customer, kind=IdentityKind.PHONE, value=f"+1555{1000000 + index:07d}"
                )
            )
        if rng.random() < 0.1:
            handle = f"@{person.first_name}{person.last_name}{index}".lower()
            identities.append(
                CustomerIdentity(customer=customer, kind=IdentityKind.TWITTER, value=handle)
            )
    CustomerIdentity.objects.bulk_create(identities)

    tags = {
        name: Tag.objects.get_or_create(name=name)[0] for name in ("vip", "newsletter", "wholesale")
    }
    through = Customer.tags.through
    links = []
    for customer in customers:
        if customer.organization_id in vip_ids or rng.random() < 0.04:
            links.append(through(customer_id=customer.pk, tag_id=tags["vip"].pk))
        if rng.random() < 0.2:
            links.append(through(customer_id=customer.pk, tag_id=tags["newsletter"].pk))
        if customer.organization_id is not None and rng.random() < 0.1:
            links.append(through(customer_id=customer.pk, tag_id=tags["wholesale"].pk))
    through.objects.bulk_create(links)
    return (
        customers,
        {c.pk: p for c, p in zip(customers, people, strict=True)},
        vip_ids,
        demo_customer,
    )


# --- tickets -------------------------------------------------------------------


def _status_for_age(rng: random.Random, age: timedelta) -> str:
    """Older tickets are mostly done; the last few days hold the open work."""
    days = age.total_seconds() / 86400
    if days < 2:
        pairs = [
            (Status.NEW, 35),
            (Status.OPEN, 30),
            (Status.PENDING, 15),
            (Status.ON_HOLD, 3),
            (Status.SOLVED, 17),
        ]
    elif days < 14:
        pairs = [
            (Status.NEW, 3),
            (Status.OPEN, 17),
            (Status.PENDING, 14),
            (Status.ON_HOLD, 6),
            (Status.SOLVED, 60),
        ]
    else:
        pairs = [(Status.OPEN, 3), (Status.PENDING, 3), (Status.ON_HOLD, 2), (Status.SOLVED, 92)]
    return str(_weighted(rng, pairs))


# The turns of a conversation, by what the ticket's status says happened so far.
# C = customer message, A = agent public reply, N = internal note.
TURNS: dict[str, list[list[str]]] = {
    Status.NEW: [["C"], ["C"], ["C"], ["C", "C"]],
    Status.OPEN: [["C", "N"], ["C", "A", "C"], ["C", "A", "C", "N"], ["C", "A", "C", "A", "C"]],
    Status.PENDING: [["C", "A"], ["C", "N", "A"], ["C", "A", "C", "A"]],
    Status.ON_HOLD: [["C", "A", "H"], ["C", "N", "A", "C", "H"]],
    Status.SOLVED: [
        ["C", "A"],
        ["C", "A", "C", "R"],
        ["C", "A", "C", "R", "T"],
        ["C", "N", "A", "C", "R", "T"],
    ],
}
FOLLOW_UP_NUDGE = "Any update on this? I haven't heard back yet."


@dataclass
class TicketPlan:
    """A ticket with its entries and audit events, not saved yet."""

    ticket: Ticket
    entries: list[Entry]
    audit: list[AuditEvent]
    tags: list[str]


class Html:
    """Renders markdown once per distinct text (replies repeat across tickets)."""

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}

    LIMIT = 20_000  # distinct texts kept; large benchmark seeds would otherwise hold them all

    def __call__(self, text: str) -> str:
        html = self._cache.get(text)
        if html is None:
            if len(self._cache) >= self.LIMIT:
                self._cache.clear()
            html = self._cache[text] = render_markdown(text)
        return html


def _turn_texts(
    turns: list[str], conv: Conversation, rng: random.Random, customer: Person, agent: User
) -> list[tuple[str, str]]:
    """(kind, text) for each turn: customer messages, public replies, internal notes."""
    agent_first = agent.name.split()[0]
    replies = [conv.first_reply, conv.resolution]
    customer_messages = [conv.opening, conv.follow_up]
    result: list[tuple[str, str]] = []
    for turn in turns:
        if turn == "C":
            text = customer_messages.pop(0) if customer_messages else FOLLOW_UP_NUDGE
            result.append(("C", text))
        elif turn == "T":
            result.append(("C", conv.thanks))
        elif turn in {"A", "R"}:
            text = conv.resolution if turn == "R" or not replies else replies.pop(0)
            result.append(("A", content.agent_reply(rng, text, customer.first_name, agent_first)))
        elif turn == "N":
            result.append(("N", conv.note))
        elif turn == "H":
            result.append(("N", conv.hold_note))
    return result


def plan_ticket(
    rng: random.Random,
    corpus: Corpus,
    desk: Desk,
    now: datetime,
    html: Html,
    *,
    created_at: datetime,
    requester: Customer,
    status: str | None = None,
    turns: list[str] | None = None,
) -> TicketPlan:
    """Builds one ticket, its conversation and its history, with consistent times."""
    person = desk.people.get(requester.pk) or corpus.people[0]
    conv = content.conversation(rng, corpus, person)
    # Solved covers closed too: a ticket solved long enough ago is closed further down.
    status = status or _status_for_age(rng, now - created_at)
    turns = turns or list(rng.choice(TURNS[status]))
    channel = _weighted(rng, CHANNEL_WEIGHTS)
    team_key = conv.team
    team: Team | None = desk.teams[team_key]
    assignee: User | None = rng.choice(desk.team_agents[team_key] or desk.agents)
    writer = assignee or desk.agents[0]
    if status == Status.NEW:
        assignee = None
        if rng.random() < 0.5:
            team = None
    texts = _turn_texts(turns, conv, rng, person, writer)

    # Times: each turn some minutes to hours after the previous one, squeezed to end before now.
    gaps = []
    for kind, _ in texts[1:]:
        if kind == "A":
            gaps.append(rng.uniform(4 * 60, 6 * 3600))
        elif kind == "N":
            gaps.append(rng.uniform(60, 2 * 3600))
        else:
            gaps.append(rng.uniform(10 * 60, 26 * 3600))
    finish = rng.uniform(5 * 60, 3 * 3600) if status == Status.SOLVED else 0.0
    available = (now - created_at).total_seconds() - 60
    total = sum(gaps) + finish
    if total > available > 0:
        gaps = [gap * available / total for gap in gaps]
        finish = finish * available / total
    times = [created_at]
    for gap in gaps:
        times.append(times[-1] + timedelta(seconds=gap))

    ticket = Ticket(
        subject=conv.subject[:255],
        status=status,
        channel=channel,
        requester=requester,
        organization_id=requester.organization_id,
        assignee=assignee,
        team=team,
        priority=(
            Priority.URGENT
            if conv.is_urgent and rng.random() < 0.6
            else _weighted(rng, PRIORITY_WEIGHTS)
        ),
        created_at=created_at,
    )
    entries: list[Entry] = []
    audit = [
        AuditEvent(
            ticket=ticket,
            field="created",
            after="New" if assignee is None else "Open",
            actor_customer=requester,
            via=channel,
            created_at=created_at,
        )
    ]
    first_response_at = last_customer = last_agent = None
    for index, ((kind, text), at) in enumerate(zip(texts, times, strict=True)):
        if kind == "C":
            entry = Entry(
                ticket=ticket,
                kind=EntryKind.PUBLIC_REPLY,
                author_customer=requester,
                channel=channel,
                created_at=at,
            )
            if index == 0 and channel == Channel.PHONE and assignee is not None:
                entry.metadata = {"created_by_agent_id": assignee.pk}
            last_customer = at
        elif kind == "A":
            entry = Entry(
                ticket=ticket,
                kind=EntryKind.PUBLIC_REPLY,
                author_user=writer,
                channel=channel if channel in REPLY_CHANNELS else Channel.WEB,
                created_at=at,
            )
            first_response_at = first_response_at or at
            last_agent = at
        else:
            note_author = rng.choice(desk.agents) if rng.random() < 0.3 else writer
            entry = Entry(
                ticket=ticket,
                kind=EntryKind.INTERNAL_NOTE,
                author_user=note_author,
                channel=Channel.WEB,
                created_at=at,
            )
            last_agent = at
        entry.body_source = text
        entry.body_html = html(text)
        entries.append(entry)

    updated_at = times[-1]
    fields: dict[str, Any] = {}
    if status != Status.NEW:
        fields["product_area"] = conv.product_area
        if conv.refund_requested:
            fields["refund_requested"] = True
        if conv.order_id:
            fields["order_number"] = conv.order_id
    if status == Status.SOLVED:
        solved_at = times[-1] + timedelta(seconds=finish)
        fields["resolution"] = conv.resolution_kind
        ticket.solved_at = solved_at
        updated_at = solved_at
        audit.append(
            AuditEvent(
                ticket=ticket,
                field="status",
                before="Open",
                after="Solved",
                actor=writer,
                via=Channel.WEB,
                created_at=solved_at,
            )
        )
        if solved_at + CLOSE_AFTER < now:
            ticket.status = Status.CLOSED
            ticket.closed_at = solved_at + CLOSE_AFTER
            updated_at = ticket.closed_at
            audit.append(
                AuditEvent(
                    ticket=ticket,
                    field="status",
                    before="Solved",
                    after="Closed",
                    via="automation",
                    created_at=ticket.closed_at,
                )
            )
    elif status in {Status.PENDING, Status.ON_HOLD}:
        audit.append(
            AuditEvent(
                ticket=ticket,
                field="status",
                before="Open",
                after=Status(status).label,
                actor=writer,
                via=Channel.WEB,
                created_at=times[-1],
            )
        )
    ticket.custom_fields = fields
    ticket.first_response_at = first_response_at
    ticket.last_customer_activity_at = last_customer
    ticket.last_agent_activity_at = last_agent
    ticket.updated_at = updated_at
    tags = list(conv.tags)
    if requester.organization_id in desk.vip_organization_ids:
        tags.append("vip")
    return TicketPlan(ticket=ticket, entries=entries, audit=audit, tags=tags)


def save_plans(plans: Sequence[TicketPlan], tag_ids: dict[str, int]) -> int:
    """Inserts planned tickets with entries, audit events and tags; returns the entry count."""
    Ticket.objects.bulk_create([plan.ticket for plan in plans], batch_size=500)
    entries = []
    audit = []
    links = []
    through = Ticket.tags.through
    for plan in plans:
        for entry in plan.entries:
            entry.ticket_id = plan.ticket.pk
            entries.append(entry)
        for event in plan.audit:
            event.ticket_id = plan.ticket.pk
            audit.append(event)
        for name in dict.fromkeys(plan.tags):
            if name not in tag_ids:
                tag_ids[name] = Tag.objects.get_or_create(name=name)[0].pk
            links.append(through(ticket_id=plan.ticket.pk, tag_id=tag_ids[name]))
    Entry.objects.bulk_create(entries, batch_size=1000)
    AuditEvent.objects.bulk_create(audit, batch_size=1000)
    through.objects.bulk_create(links, batch_size=1000)
    return len(entries)


def _created_times(rng: random.Random, count: int, now: datetime, days: int) -> list[datetime]:
    """Creation times over the last ``days``, denser toward today, during waking hours."""
    times = []
    for _ in range(count):
        age_days = days * rng.random() ** 1.4
        moment = now - timedelta(days=age_days)
        if not 7 <= moment.hour <= 21:
            moment = moment.replace(hour=rng.randint(8, 20))
        if moment > now - timedelta(minutes=5):
            moment = now - timedelta(minutes=rng.randint(5, 240))
        times.append(moment)
    times.sort()
    return times


# --- the whole load -------------------------------------------------------------


def load(
    *,
    scale: Scale = Scale(),
    seed: int = SEED,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """Creates the demo desk. Call only when ``is_loaded()`` is false."""
    now = now or timezone.now()
    rng = random.Random(seed)  # noqa: S311 - repeatable invented data, not secrets
    corpus = content.load_corpus()
    say = progress or (lambda message: None)
    summary = Summary(corpus=corpus.source)
    # One hash for every demo account: the password hasher is slow on purpose.
    password_hash = make_password(DEMO_PASSWORD)
    with (
        transaction.atomic(),
        explicit_timestamps(
            User, Team, CustomField, Organization, Customer, Ticket, Entry, AuditEvent
        ),
    ):
        agents, teams, team_agents = _create_staff(now, password_hash)
        _create_custom_fields(now, corpus.devices)
        full_agents = [agent for agent in agents if agent.role != Role.LIGHT_AGENT]
        customers, people, vip_ids, demo_customer = _create_customers(
            rng, corpus, scale, now, full_agents, password_hash
        )
        summary.staff, summary.teams = len(agents), len(teams)
        summary.organizations = Organization.objects.filter(
            custom_attributes__source=DEMO_MARKER["source"]
        ).count()
        summary.customers = len(customers)
        say(f"{summary.customers} customers in {summary.organizations} organizations")
        desk = Desk(
            agents=full_agents,
            teams=teams,
            team_agents=team_agents,
            customers=customers,
            people=people,
            vip_organization_ids=vip_ids,
            demo_customer=demo_customer,
        )
        html = Html()
        # A few customers write often; most write once or twice.
        weights = [rng.paretovariate(1.5) for _ in customers]
        demo_every = max(2, scale.tickets // 12)
        plans = []
        for index, created_at in enumerate(_created_times(rng, scale.tickets, now, scale.days)):
            requester = (
                demo_customer if index % demo_every == 1 else rng.choices(customers, weights)[0]
            )
            plans.append(
                plan_ticket(
                    rng, corpus, desk, now, html, created_at=created_at, requester=requester
                )
            )
        tag_ids = dict(Tag.objects.values_list("name", "id"))
        summary.entries = save_plans(plans, tag_ids)
        summary.tickets = len(plans)
        say(f"{summary.tickets} tickets with {summary.entries} conversation entries")
    return summary


@transaction.atomic
def reset() -> None:
    """Removes what ``load`` created (and only that): marked CRM rows, demo staff, teams, fields."""
    demo_customers = Customer.objects.filter(custom_attributes__source=DEMO_MARKER["source"])
    customer_users = list(demo_customers.exclude(user=None).values_list("user_id", flat=True))
    demo_tickets = Ticket.objects.filter(requester__in=demo_customers)
    tag_ids = set(
        Ticket.tags.through.objects.filter(ticket__in=demo_tickets).values_list("tag_id", flat=True)
    )
    tag_ids |= set(
        Customer.tags.through.objects.filter(customer__in=demo_customers).values_list(
            "tag_id", flat=True
        )
    )
    demo_tickets.delete()
    demo_customers.delete()
    Organization.objects.filter(custom_attributes__source=DEMO_MARKER["source"]).delete()
    User.objects.filter(Q(email__endswith=f"@{DEMO_DOMAIN}") | Q(pk__in=customer_users)).delete()
    Team.objects.filter(name__in=content.TEAM_NAMES.values(), members=None).delete()
    CustomField.objects.filter(
        key__in=["product_area", "refund_requested", "order_number", "resolution", "phone_model"]
    ).delete()
    Tag.objects.filter(pk__in=tag_ids, tickets=None, customers=None).delete()


# --- more tickets on an existing desk (benchmarks) ------------------------------


def desk_from_database(corpus: Corpus) -> Desk:
    """The desk ``load`` created, read back, so more tickets can be written between its people."""
    staff = list(User.objects.filter(email__endswith=f"@{DEMO_DOMAIN}").exclude(role=Role.CUSTOMER))
    agents = [user for user in staff if user.role != Role.LIGHT_AGENT]
    teams = {key: Team.objects.get(name=name) for key, name in content.TEAM_NAMES.items()}
    team_agents = {
        key: [agent for agent in agents if team.members.filter(pk=agent.pk).exists()]
        for key, team in teams.items()
    }
    marked = {"custom_attributes__source": DEMO_MARKER["source"]}
    customers = list(Customer.objects.filter(**marked))
    by_name = {person.name: person for person in corpus.people}
    demo_organizations = Organization.objects.filter(**marked)
    vip_ids = set(
        demo_organizations.filter(custom_attributes__plan="Enterprise").values_list("pk", flat=True)
    )
    return Desk(
        agents=agents,
        teams=teams,
        team_agents=team_agents,
        customers=customers,
        people={c.pk: by_name[c.name] for c in customers if c.name in by_name},
        vip_organization_ids=vip_ids,
    )


def _seed_status(rng: random.Random, age: timedelta, *, answered: bool) -> str:
    """The demo's mix of statuses by age; a ticket with agent replies is no longer new."""
    status = _status_for_age(rng, age)
    return Status.OPEN if status == Status.NEW and answered else status


def seed_tickets(
    count: int,
    *,
    entries_per_ticket: int,
    seed: int = SEED,
    days: int = 90,
    batch: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Adds ``count`` tickets of exactly ``entries_per_ticket`` entries to a loaded desk.

    Alternates customer messages and agent replies. Returns the entries written.
    """
    now = timezone.now()
    rng = random.Random(seed + 1)  # noqa: S311 - repeatable invented data, not secrets
    corpus = content.load_corpus()
    desk = desk_from_database(corpus)
    html = Html()
    turns = (["C", "A"] * entries_per_ticket)[: max(1, entries_per_ticket)]
    tag_ids = dict(Tag.objects.values_list("name", "id"))
    created = _created_times(rng, count, now, days)
    written = 0
    with explicit_timestamps(Ticket, Entry, AuditEvent):
        for start in range(0, count, batch):
            plans = [
                plan_ticket(
                    rng, corpus, desk, now, html, created_at=created_at,
                    requester=rng.choice(desk.customers),
                    status=_seed_status(rng, now - created_at, answered=len(turns) > 1),
                    turns=turns,
                )
                for created_at in created[start : start + batch]
            ]  # fmt: skip
            with transaction.atomic():
                written += save_plans(plans, tag_ids)
            if progress is not None:
                progress(start + len(plans))
    return written
