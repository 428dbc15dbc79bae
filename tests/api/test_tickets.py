"""Tickets through the API: create, idempotency, list and paging, update, access."""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from concierge.core.models import IdempotencyRecord
from concierge.customers.models import Customer
from concierge.tickets.models import AuditEvent, Channel, Entry, EntryKind, Status, Ticket
from tests.api.helpers import api_client
from tests.factories import (
    CustomerFactory,
    CustomFieldFactory,
    EntryFactory,
    TeamFactory,
    TicketFactory,
    make_agent,
)

pytestmark = pytest.mark.django_db


def test_agent_creates_ticket_for_new_requester_by_email(agent_user):
    team = TeamFactory()
    response = api_client(agent_user).post(
        "/api/v1/tickets",
        {
            "subject": "Printer on fire",
            "body": "It is **really** on fire.",
            "requester": {"email": "Pat@Example.com", "name": "Pat"},
            "priority": "urgent",
            "assignee_id": agent_user.pk,
            "team_id": team.pk,
            "tags": ["Hardware", "fire"],
        },
        content_type="application/json",
    )

    assert response.status_code == 201
    data = response.json()
    ticket = Ticket.objects.get(pk=data["id"])
    assert ticket.channel == Channel.API
    assert ticket.requester.primary_email == "pat@example.com"
    assert data["requester"] == {"id": ticket.requester_id, "name": "Pat"}
    assert data["assignee"] == {"id": agent_user.pk, "name": agent_user.name}
    assert data["team"] == {"id": team.pk, "name": team.name}
    assert data["priority"] == "urgent"
    assert data["status"] == "open"
    assert data["tags"] == ["fire", "hardware"]


def test_create_with_base64_attachment_stores_the_file(agent_user):
    customer = CustomerFactory()
    response = api_client(agent_user).post(
        "/api/v1/tickets",
        {
            "subject": "Invoice",
            "body": "See attached.",
            "requester": {"id": customer.pk},
            "attachments": [
                {
                    "filename": "invoice.txt",
                    "content_type": "text/plain",
                    "data": base64.b64encode(b"total: 42").decode(),
                }
            ],
        },
        content_type="application/json",
    )

    assert response.status_code == 201
    entry = Entry.objects.get(ticket_id=response.json()["id"])
    attachment = entry.attachments.get()
    assert attachment.filename == "invoice.txt"
    assert attachment.file.read() == b"total: 42"


def test_invalid_base64_attachment_creates_nothing(agent_user):
    response = api_client(agent_user).post(
        "/api/v1/tickets",
        {
            "subject": "Invoice",
            "body": "See attached.",
            "requester": {"email": "new@example.com"},
            "attachments": [{"filename": "a.txt", "data": "%%% not base64"}],
        },
        content_type="application/json",
    )

    assert response.status_code == 422
    assert "attachments.0.data" in response.json()["field_errors"]
    assert not Ticket.objects.exists()
    assert not Customer.objects.exists()


def test_customer_creates_own_ticket_without_naming_a_requester(customer_user):
    response = api_client(customer_user).post(
        "/api/v1/tickets", {"subject": "Help", "body": "Please"}, content_type="application/json"
    )

    assert response.status_code == 201
    assert Ticket.objects.get().requester == customer_user.customer


def test_customer_cannot_open_ticket_for_another_email(customer_user):
    response = api_client(customer_user).post(
        "/api/v1/tickets",
        {"subject": "Help", "body": "Please", "requester": {"email": "victim@example.com"}},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert not Ticket.objects.exists()
    assert not Customer.objects.exclude(pk=customer_user.customer.pk).exists()


def test_idempotent_retry_returns_the_same_ticket_and_creates_one(agent_user):
    client = api_client(agent_user)
    customer = CustomerFactory()
    body = {"subject": "Refund", "body": "Please refund", "requester": {"id": customer.pk}}
    headers = {"Idempotency-Key": "retry-123"}

    first = client.post("/api/v1/tickets", body, content_type="application/json", headers=headers)
    second = client.post("/api/v1/tickets", body, content_type="application/json", headers=headers)

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Ticket.objects.count() == 1
    assert IdempotencyRecord.objects.get().user == agent_user


def test_idempotency_key_reused_with_another_body_is_422(agent_user):
    client = api_client(agent_user)
    customer = CustomerFactory()
    headers = {"Idempotency-Key": "key-1"}
    body = {"subject": "Refund", "body": "Please refund", "requester": {"id": customer.pk}}
    client.post("/api/v1/tickets", body, content_type="application/json", headers=headers)

    response = client.post(
        "/api/v1/tickets",
        {**body, "subject": "Something else"},
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Ticket.objects.count() == 1


def test_same_key_from_another_user_creates_separately(agent_user):
    customer = CustomerFactory()
    body = {"subject": "Refund", "body": "Please refund", "requester": {"id": customer.pk}}
    headers = {"Idempotency-Key": "shared"}

    for user in (agent_user, make_agent()):
        response = api_client(user).post(
            "/api/v1/tickets", body, content_type="application/json", headers=headers
        )
        assert response.status_code == 201

    assert Ticket.objects.count() == 2


def test_idempotency_key_over_255_characters_is_refused(agent_user):
    customer = CustomerFactory()
    response = api_client(agent_user).post(
        "/api/v1/tickets",
        {"subject": "Refund", "body": "Please", "requester": {"id": customer.pk}},
        content_type="application/json",
        headers={"Idempotency-Key": "k" * 256},
    )

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["field_errors"]
    assert not Ticket.objects.exists()


def test_list_filters_by_status_priority_tags_and_text(agent_user):
    wanted = TicketFactory(subject="Broken zipper", status=Status.OPEN, priority="high")
    wanted.tags.create(name="returns")
    TicketFactory(subject="Broken zipper", status=Status.SOLVED, priority="high")
    TicketFactory(subject="Other", status=Status.OPEN, priority="high")
    client = api_client(agent_user)

    response = client.get("/api/v1/tickets?status=open,new&priority=high&tags=returns&q=zipper")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["items"]] == [wanted.pk]


def test_list_filters_by_assignee_and_requester(agent_user):
    mine = TicketFactory(assignee=agent_user)
    other = TicketFactory()
    client = api_client(agent_user)

    assert [t["id"] for t in client.get("/api/v1/tickets?assignee=me").json()["items"]] == [mine.pk]
    by_requester = client.get(f"/api/v1/tickets?requester={other.requester_id}").json()
    assert [t["id"] for t in by_requester["items"]] == [other.pk]


def test_cursor_pagination_walks_every_ticket_exactly_once(agent_user):
    created = {TicketFactory().pk for _ in range(12)}
    client = api_client(agent_user)

    seen: list[int] = []
    cursor = ""
    for _ in range(10):
        page = client.get(f"/api/v1/tickets?page_size=5&cursor={cursor}").json()
        seen.extend(row["id"] for row in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == len(created)
    assert set(seen) == created


def test_previous_cursor_returns_the_page_before(agent_user):
    for _ in range(6):
        TicketFactory()
    client = api_client(agent_user)
    first = client.get("/api/v1/tickets?page_size=3").json()
    second = client.get(f"/api/v1/tickets?page_size=3&cursor={first['next_cursor']}").json()

    back = client.get(f"/api/v1/tickets?page_size=3&cursor={second['previous_cursor']}").json()

    assert [t["id"] for t in back["items"]] == [t["id"] for t in first["items"]]


def test_ticket_list_query_count_does_not_grow_with_rows(agent_user):
    def count_queries() -> int:
        client = api_client(agent_user)  # a fresh token: each run stamps its first use
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/tickets?page_size=100")
        assert response.status_code == 200
        return len(queries)

    def add_tickets(count: int) -> None:
        team = TeamFactory()
        for index in range(count):
            ticket = TicketFactory(assignee=agent_user, team=team)
            ticket.tags.create(name=f"tag-{Ticket.objects.count()}-{index}")

    add_tickets(5)
    few = count_queries()
    add_tickets(35)
    many = count_queries()

    # token lookup, token stamp, tickets with their joins, tags
    assert few == many == 4


def test_patch_changes_fields_and_records_the_audit_trail(agent_user):
    ticket = TicketFactory()
    team = TeamFactory()
    client = api_client(agent_user)

    response = client.patch(
        f"/api/v1/tickets/{ticket.pk}",
        {"status": "pending", "priority": "high", "team_id": team.pk, "add_tags": ["vip"]},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.json()["tags"] == ["vip"]
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.team) == (Status.PENDING, "high", team)
    fields = set(
        AuditEvent.objects.filter(ticket=ticket, via="api").values_list("field", flat=True)
    )
    assert fields == {"status", "priority", "team", "tags"}

    audit = client.get(f"/api/v1/tickets/{ticket.pk}/audit").json()
    assert {event["field"] for event in audit} >= fields
    assert audit[-1]["actor"] == {"type": "agent", "id": agent_user.pk, "name": agent_user.name}


def test_patch_with_null_assignee_unassigns(agent_user):
    ticket = TicketFactory(assignee=agent_user, status=Status.OPEN)

    response = api_client(agent_user).patch(
        f"/api/v1/tickets/{ticket.pk}", {"assignee_id": None}, content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json()["assignee"] is None


def test_light_agent_cannot_patch_a_ticket(light_agent_user):
    ticket = TicketFactory(status=Status.OPEN, priority="normal")

    response = api_client(light_agent_user).patch(
        f"/api/v1/tickets/{ticket.pk}", {"priority": "urgent"}, content_type="application/json"
    )

    assert response.status_code == 403
    ticket.refresh_from_db()
    assert ticket.priority == "normal"
    assert not AuditEvent.objects.filter(ticket=ticket).exists()


def test_customer_cannot_see_another_customers_ticket(customer_user):
    other = TicketFactory()
    client = api_client(customer_user)

    assert client.get(f"/api/v1/tickets/{other.pk}").status_code == 404
    assert client.get(f"/api/v1/tickets/{other.pk}/entries").status_code == 404
    assert client.get("/api/v1/tickets").json()["items"] == []


def test_customer_denied_patch_on_own_ticket_changes_nothing(customer_user):
    ticket = TicketFactory(requester=customer_user.customer, priority="normal")

    response = api_client(customer_user).patch(
        f"/api/v1/tickets/{ticket.pk}", {"priority": "urgent"}, content_type="application/json"
    )

    assert response.status_code == 403
    ticket.refresh_from_db()
    assert ticket.priority == "normal"
    assert not AuditEvent.objects.filter(ticket=ticket).exists()


def test_customer_patch_on_others_ticket_is_404(customer_user):
    ticket = TicketFactory(priority="normal")

    response = api_client(customer_user).patch(
        f"/api/v1/tickets/{ticket.pk}", {"priority": "urgent"}, content_type="application/json"
    )

    assert response.status_code == 404
    ticket.refresh_from_db()
    assert ticket.priority == "normal"


def test_customer_never_gets_internal_notes_or_hidden_fields(customer_user):
    CustomFieldFactory(key="order", is_customer_visible=True)
    CustomFieldFactory(key="fraud_score", is_customer_visible=False)
    ticket = TicketFactory(
        requester=customer_user.customer, custom_fields={"order": "A1", "fraud_score": "9"}
    )
    EntryFactory(ticket=ticket, kind=EntryKind.INTERNAL_NOTE, body_source="Secret note")
    client = api_client(customer_user)

    entries = client.get(f"/api/v1/tickets/{ticket.pk}/entries").json()["items"]
    detail = client.get(f"/api/v1/tickets/{ticket.pk}").json()

    assert [entry["kind"] for entry in entries] == ["reply"]
    assert detail["custom_fields"] == {"order": "A1"}
    assert client.get(f"/api/v1/tickets/{ticket.pk}/audit").status_code == 403


def test_customer_cannot_write_a_note(customer_user):
    ticket = TicketFactory(requester=customer_user.customer)

    response = api_client(customer_user).post(
        f"/api/v1/tickets/{ticket.pk}/entries",
        {"kind": "note", "body": "sneaky"},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert ticket.entries.count() == 1


def test_agent_reply_and_note_appear_in_the_conversation(agent_user):
    ticket = TicketFactory()
    client = api_client(agent_user)

    reply = client.post(
        f"/api/v1/tickets/{ticket.pk}/entries",
        {"body": "On it.", "status_after": "pending"},
        content_type="application/json",
    )
    note = client.post(
        f"/api/v1/tickets/{ticket.pk}/entries",
        {"kind": "note", "body": "Checking stock."},
        content_type="application/json",
    )

    assert reply.status_code == note.status_code == 201
    assert reply.json()["author"]["type"] == "agent"
    entries = client.get(f"/api/v1/tickets/{ticket.pk}/entries").json()["items"]
    assert [entry["kind"] for entry in entries] == ["reply", "reply", "note"]
    ticket.refresh_from_db()
    assert ticket.status == Status.PENDING


def test_merge_moves_sources_into_the_target(agent_user):
    target = TicketFactory()
    source = TicketFactory()

    response = api_client(agent_user).post(
        f"/api/v1/tickets/{target.pk}/merge",
        {"source_ids": [source.pk]},
        content_type="application/json",
    )

    assert response.status_code == 200
    source.refresh_from_db()
    assert source.merged_into_id == target.pk
    assert source.status == Status.CLOSED


def test_attachment_download_respects_note_visibility(agent_user, customer_user):
    ticket = TicketFactory(requester=customer_user.customer)
    staff = api_client(agent_user)
    note = staff.post(
        f"/api/v1/tickets/{ticket.pk}/entries",
        {
            "kind": "note",
            "body": "internal file",
            "attachments": [{"filename": "n.txt", "data": base64.b64encode(b"x").decode()}],
        },
        content_type="application/json",
    ).json()
    attachment_id = note["attachments"][0]["id"]

    assert staff.get(f"/api/v1/attachments/{attachment_id}").status_code == 200
    response = api_client(customer_user).get(f"/api/v1/attachments/{attachment_id}")
    assert response.status_code == 404
