"""Ticket writes: lifecycle, audit trail, limits, merge and follow-ups."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import override_settings

from concierge.core.errors import Conflict, LimitExceeded, PermissionDenied, ValidationFailed
from concierge.tickets import actions
from concierge.tickets.actions import NewAttachment
from concierge.tickets.models import AuditEvent, Entry, EntryKind, Status, Ticket
from tests.factories import CustomerFactory, CustomFieldFactory, TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db


def test_customer_creates_ticket_for_themselves_with_sanitized_body(customer_user):
    ticket = actions.create_ticket(
        actor=customer_user,
        requester=customer_user.customer,
        subject="  Charged   twice ",
        body="I was **charged** twice <img src=x onerror=alert(1)>",
    )

    assert ticket.subject == "Charged twice"
    assert ticket.status == Status.NEW
    entry = ticket.entries.get()
    assert entry.author_customer == customer_user.customer
    assert "<strong>charged</strong>" in entry.body_html
    assert "<img" not in entry.body_html
    assert "onerror" not in entry.body_html or "&lt;img" in entry.body_html


def test_customer_cannot_open_ticket_for_someone_else(customer_user):
    other = CustomerFactory()

    with pytest.raises(PermissionDenied):
        actions.create_ticket(actor=customer_user, requester=other, subject="Hi", body="Hello")

    assert Ticket.objects.count() == 0


def test_customer_cannot_set_agent_only_fields(customer_user, agent_user):
    ticket = actions.create_ticket(
        actor=customer_user,
        requester=customer_user.customer,
        subject="Hi",
        body="Hello",
        priority="urgent",
        assignee=agent_user,
        tags=["vip"],
    )

    assert ticket.priority == "normal"
    assert ticket.assignee is None
    assert ticket.tags.count() == 0


def test_agent_first_reply_stamps_first_response_and_assigns(
    agent_user, django_capture_on_commit_callbacks
):
    ticket = TicketFactory()

    with django_capture_on_commit_callbacks(execute=True):
        actions.add_entry(actor=agent_user, ticket=ticket, body="We are on it.")

    ticket.refresh_from_db()
    assert ticket.first_response_at is not None
    assert ticket.status == Status.OPEN
    assert ticket.assignee == agent_user
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [ticket.requester.primary_email]
    assert f"[#{ticket.pk}]" in mail.outbox[0].subject


def test_customer_reply_reopens_solved_ticket_and_counts_reopen(agent_user, customer_user):
    ticket = TicketFactory(requester=customer_user.customer)
    actions.update_ticket(actor=agent_user, ticket=ticket, changes={"status": Status.SOLVED})

    actions.add_entry(actor=customer_user, ticket=ticket, body="It broke again.")

    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.reopen_count == 1
    assert ticket.solved_at is None


def test_closed_ticket_takes_no_reply_but_a_follow_up(agent_user, customer_user):
    ticket = TicketFactory(requester=customer_user.customer)
    actions.update_ticket(actor=agent_user, ticket=ticket, changes={"status": Status.CLOSED})

    with pytest.raises(Conflict):
        actions.add_entry(actor=customer_user, ticket=ticket, body="Hello again")
    follow_up = actions.create_follow_up(
        actor=customer_user, closed_ticket=ticket, body="Hello again"
    )

    assert follow_up.follow_up_of == ticket
    assert follow_up.requester == customer_user.customer
    assert ticket.entries.count() == 1


def test_every_change_is_audited_with_actor_and_channel(agent_user):
    team = TeamFactory()
    ticket = TicketFactory()

    actions.update_ticket(
        actor=agent_user,
        ticket=ticket,
        via="api",
        changes={"priority": "high", "team": team, "add_tags": ["Billing", "vip"]},
    )

    events = {e.field: e for e in AuditEvent.objects.filter(ticket=ticket)}
    assert events["priority"].before == "normal" and events["priority"].after == "high"
    assert events["team"].after == team.name
    assert events["tags"].after == "billing vip"
    assert all(e.actor == agent_user and e.via == "api" for e in events.values())


def test_unchanged_values_leave_no_audit_event(agent_user):
    ticket = TicketFactory()

    actions.update_ticket(actor=agent_user, ticket=ticket, changes={"priority": "normal"})

    assert not AuditEvent.objects.filter(ticket=ticket).exists()


def test_required_on_solve_field_blocks_solving_until_filled(agent_user):
    CustomFieldFactory(
        key="product",
        label="Product",
        field_type="dropdown",
        choices=["A", "B"],
        is_required_on_solve=True,
    )
    ticket = TicketFactory()

    with pytest.raises(ValidationFailed, match="Product"):
        actions.update_ticket(actor=agent_user, ticket=ticket, changes={"status": Status.SOLVED})
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW

    actions.update_ticket(
        actor=agent_user,
        ticket=ticket,
        changes={"custom_fields": {"product": "A"}, "status": Status.SOLVED},
    )
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED
    assert ticket.custom_fields == {"product": "A"}


def test_custom_field_values_are_type_checked(agent_user):
    CustomFieldFactory(key="seats", field_type="number")
    CustomFieldFactory(key="plan", field_type="dropdown", choices=["free", "pro"])
    ticket = TicketFactory()

    with pytest.raises(ValidationFailed) as error:
        actions.update_ticket(
            actor=agent_user,
            ticket=ticket,
            changes={"custom_fields": {"seats": "many", "plan": "gold"}},
        )

    assert set(error.value.field_errors) == {"seats", "plan"}
    ticket.refresh_from_db()
    assert ticket.custom_fields == {}


def test_light_agent_writes_notes_but_cannot_reply_or_change(light_agent_user):
    ticket = TicketFactory()

    note = actions.add_entry(
        actor=light_agent_user, ticket=ticket, body="FYI", kind=EntryKind.INTERNAL_NOTE
    )
    with pytest.raises(PermissionDenied):
        actions.add_entry(actor=light_agent_user, ticket=ticket, body="Hi customer")
    with pytest.raises(PermissionDenied):
        actions.update_ticket(
            actor=light_agent_user, ticket=ticket, changes={"status": Status.SOLVED}
        )

    assert note.kind == EntryKind.INTERNAL_NOTE
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    assert ticket.entries.count() == 2


def test_note_mentions_notify_the_named_agent(
    agent_user, admin_user, django_capture_on_commit_callbacks
):
    ticket = TicketFactory()

    with django_capture_on_commit_callbacks(execute=True):
        entry = actions.add_entry(
            actor=agent_user,
            ticket=ticket,
            body="@Ada can you check?",
            kind=EntryKind.INTERNAL_NOTE,
        )

    assert list(entry.mentions.all()) == [admin_user]
    assert [m.to for m in mail.outbox] == [[admin_user.email]]


@override_settings(ATTACHMENT_MAX_BYTES=1024)
def test_attachment_over_limit_is_refused_with_the_limit_named(customer_user):
    big = NewAttachment("scan.pdf", b"x" * 2048, "application/pdf")

    with pytest.raises(LimitExceeded, match="limit"):
        actions.create_ticket(
            actor=customer_user,
            requester=customer_user.customer,
            subject="Hi",
            body="See file",
            attachments=[big],
        )

    assert Ticket.objects.count() == 0


def test_executable_attachment_types_are_refused(customer_user):
    with pytest.raises(ValidationFailed, match=".html"):
        actions.create_ticket(
            actor=customer_user,
            requester=customer_user.customer,
            subject="Hi",
            body="x",
            attachments=[NewAttachment("page.html", b"<script>", "text/html")],
        )


def test_attachment_is_stored_with_clean_name(customer_user):
    ticket = actions.create_ticket(
        actor=customer_user,
        requester=customer_user.customer,
        subject="Receipt",
        body="Attached",
        attachments=[NewAttachment("../../etc/receipt.pdf", b"%PDF-1.4", "")],
    )

    attachment = ticket.entries.get().attachments.get()
    assert attachment.filename == "receipt.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.size == 8
    assert attachment.file.read() == b"%PDF-1.4"


def test_body_over_limit_is_refused(customer_user, settings):
    settings.ENTRY_BODY_MAX_CHARS = 10

    with pytest.raises(LimitExceeded, match="limit is 10"):
        actions.create_ticket(
            actor=customer_user, requester=customer_user.customer, subject="Hi", body="x" * 11
        )


def test_merge_moves_entries_and_closes_source_with_pointer(agent_user):
    target = TicketFactory()
    source = TicketFactory(body="Duplicate question")

    actions.merge_tickets(actor=agent_user, sources=[source], target=target)

    source.refresh_from_db()
    assert source.status == Status.CLOSED
    assert source.merged_into == target
    assert target.entries.filter(body_source="Duplicate question").exists()
    assert source.requester in target.ccs.all()
    with pytest.raises(Conflict):
        actions.add_entry(actor=agent_user, ticket=source, body="late reply")


def test_merge_into_itself_is_refused(agent_user):
    ticket = TicketFactory()

    with pytest.raises(ValidationFailed):
        actions.merge_tickets(actor=agent_user, sources=[ticket], target=ticket)


def test_invalid_tag_is_refused_and_nothing_changes(agent_user):
    ticket = TicketFactory()

    with pytest.raises(ValidationFailed):
        actions.update_ticket(actor=agent_user, ticket=ticket, changes={"add_tags": ["<script>"]})

    assert ticket.tags.count() == 0
    assert Entry.objects.filter(ticket=ticket).count() == 1
