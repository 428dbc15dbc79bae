"""The ticket page: timeline, composer, properties panel, quick actions, attachments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from concierge.core.models import Tag
from concierge.tickets.actions import NewAttachment, add_entry, update_ticket
from concierge.tickets.models import (
    Attachment,
    AuditEvent,
    CustomField,
    Entry,
    EntryKind,
    Status,
    Ticket,
)
from tests.conftest import signed_in_client
from tests.factories import (
    CustomerFactory,
    CustomFieldFactory,
    EntryFactory,
    TeamFactory,
    TicketFactory,
    make_agent,
    make_customer_user,
)

pytestmark = pytest.mark.django_db


def test_ticket_page_shows_conversation_notes_events_and_requester(agent_user):
    ticket = TicketFactory(subject="Printer on fire", body="It is <b>burning</b>")
    add_entry(
        actor=agent_user, ticket=ticket, body="Checking with **ops**", kind=EntryKind.INTERNAL_NOTE
    )
    update_ticket(actor=agent_user, ticket=ticket, changes={"priority": "urgent"})
    other = TicketFactory(requester=ticket.requester, subject="Older question")

    response = signed_in_client(agent_user).get(f"/tickets/{ticket.pk}/")
    content = response.content.decode()

    assert response.status_code == 200
    assert "Printer on fire" in content
    assert "entry--note" in content and "<strong>ops</strong>" in content
    assert "Internal note</span>" in content
    assert "Priority</span> <del>normal</del> → <ins>urgent</ins>" in content
    assert ticket.requester.primary_email in content
    assert f"#{other.pk} Older question" in content


def test_user_text_is_escaped_on_the_ticket_page(agent_user):
    requester = CustomerFactory(name="<script>alert(1)</script>")
    ticket = TicketFactory(requester=requester, subject="<img src=x onerror=alert(1)>")

    content = signed_in_client(agent_user).get(f"/tickets/{ticket.pk}/").content.decode()

    assert "<script>alert(1)</script>" not in content
    assert "<img src=x onerror" not in content
    assert "&lt;img src=x onerror=alert(1)&gt;" in content


def test_agent_replies_publicly_and_solves(agent_user):
    ticket = TicketFactory()

    response = signed_in_client(agent_user).post(
        f"/tickets/{ticket.pk}/entries/",
        {"kind": "reply", "body": "Fixed it!", "status_after": "solved"},
    )

    entry = Entry.objects.get(ticket=ticket, author_user=agent_user)
    assert response["Location"] == f"/tickets/{ticket.pk}/#entry-{entry.pk}"
    assert entry.kind == EntryKind.PUBLIC_REPLY
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED
    assert ticket.assignee == agent_user


def test_agent_adds_a_note_with_attachments(agent_user):
    ticket = TicketFactory()
    files = [
        SimpleUploadedFile("log.txt", b"line 1", content_type="text/plain"),
        SimpleUploadedFile("shot.png", b"\x89PNG fake", content_type="image/png"),
    ]

    signed_in_client(agent_user).post(
        f"/tickets/{ticket.pk}/entries/", {"kind": "note", "body": "See logs", "attachments": files}
    )

    note = Entry.objects.get(ticket=ticket, kind=EntryKind.INTERNAL_NOTE)
    assert sorted(note.attachments.values_list("filename", flat=True)) == ["log.txt", "shot.png"]
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW


def test_empty_reply_shows_the_error_and_keeps_nothing(agent_user):
    ticket = TicketFactory()

    response = signed_in_client(agent_user).post(
        f"/tickets/{ticket.pk}/entries/", {"kind": "reply", "body": "  "}
    )

    assert response.status_code == 422
    assert b"The message is empty." in response.content
    assert ticket.entries.count() == 1


def test_blocked_attachment_type_is_refused_with_the_reason(agent_user):
    ticket = TicketFactory()
    upload = SimpleUploadedFile("evil.html", b"<script>", content_type="text/html")

    response = signed_in_client(agent_user).post(
        f"/tickets/{ticket.pk}/entries/",
        {"kind": "reply", "body": "typed text", "attachments": [upload]},
    )

    assert response.status_code == 422
    assert b".html files are not accepted." in response.content
    assert b"typed text" in response.content  # what the agent typed is not lost
    assert ticket.entries.count() == 1


def test_light_agent_sees_only_the_note_tab_and_a_read_only_panel(light_agent_user):
    ticket = TicketFactory()

    content = signed_in_client(light_agent_user).get(f"/tickets/{ticket.pk}/").content.decode()

    assert 'value="note"' in content
    assert 'value="reply"' not in content
    assert 'name="status_after"' not in content
    assert f'action="/tickets/{ticket.pk}/properties/"' not in content


def test_light_agent_cannot_reply_publicly_and_nothing_changes(light_agent_user):
    ticket = TicketFactory()

    response = signed_in_client(light_agent_user).post(
        f"/tickets/{ticket.pk}/entries/", {"kind": "reply", "body": "Public words"}
    )

    assert response.status_code == 400
    assert ticket.entries.count() == 1
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW


def test_light_agent_adds_a_note_but_cannot_change_status_with_it(light_agent_user):
    ticket = TicketFactory()

    signed_in_client(light_agent_user).post(
        f"/tickets/{ticket.pk}/entries/", {"kind": "note", "body": "FYI", "status_after": "solved"}
    )

    assert ticket.entries.filter(kind=EntryKind.INTERNAL_NOTE).count() == 1
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW


def test_light_agent_cannot_change_properties_and_nothing_changes(light_agent_user):
    ticket = TicketFactory()
    client = signed_in_client(light_agent_user)

    response = client.post(
        f"/tickets/{ticket.pk}/properties/", {"status": "solved", "priority": "urgent"}
    )
    quick = client.post(f"/tickets/{ticket.pk}/quick/", {"action": "solve"}, follow=True)

    assert response.status_code == 403
    assert b"Nothing changed" in quick.content
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee) == ("new", "normal", None)
    assert not AuditEvent.objects.filter(ticket=ticket).exclude(field="created").exists()


def properties_data(ticket: Ticket, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": ticket.assignee_id or "",
        "team": ticket.team_id or "",
        "tags": "",
        "due_at": "",
        "ccs": "",
    }
    data.update(overrides)
    return data


def test_agent_changes_properties_and_the_audit_trail_records_them(agent_user):
    team = TeamFactory(name="Billing")
    cc = CustomerFactory(email="cc@customers.test")
    ticket = TicketFactory()

    response = signed_in_client(agent_user).post(
        f"/tickets/{ticket.pk}/properties/",
        properties_data(
            ticket,
            status="pending",
            priority="high",
            assignee=agent_user.pk,
            team=team.pk,
            tags="refund VIP",
            due_at="2030-01-02T10:30",
            ccs="CC@customers.test",
        ),
    )

    assert response["Location"] == f"/tickets/{ticket.pk}/"
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee, ticket.team) == (
        "pending",
        "high",
        agent_user,
        team,
    )
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["refund", "vip"]
    assert ticket.due_at == datetime(2030, 1, 2, 10, 30, tzinfo=UTC)
    assert list(ticket.ccs.all()) == [cc]
    assert {"status", "priority", "assignee", "team", "tags", "due_at", "ccs"} <= set(
        AuditEvent.objects.filter(ticket=ticket).values_list("field", flat=True)
    )


def test_properties_over_htmx_return_the_panel_with_status_and_timeline_out_of_band(agent_user):
    ticket = TicketFactory()

    response = signed_in_client(agent_user).post(
        f"/tickets/{ticket.pk}/properties/",
        properties_data(ticket, status="open"),
        HTTP_HX_REQUEST="true",
    )
    content = response.content.decode()

    assert response.status_code == 200
    assert content.lstrip().startswith('<section id="ticket-properties"')
    assert 'id="ticket-status" class="badge badge--large status-open" hx-swap-oob="true"' in content
    assert 'id="timeline" class="timeline" hx-swap-oob="true"' in content
    assert "Saved." in content


def test_unknown_cc_email_is_explained_and_nothing_changes(agent_user):
    ticket = TicketFactory()

    response = signed_in_client(agent_user).post(
        f"/tickets/{ticket.pk}/properties/",
        properties_data(ticket, priority="low", ccs="nobody@nowhere.test"),
    )

    assert response.status_code == 400
    assert b"No customer with: nobody@nowhere.test" in response.content
    ticket.refresh_from_db()
    assert ticket.priority == "normal"


def test_custom_fields_of_every_type_are_edited_in_the_panel(agent_user):
    CustomFieldFactory(key="order", label="Order", field_type="text")
    CustomFieldFactory(key="amount", label="Amount", field_type="number")
    CustomFieldFactory(key="plan", label="Plan", field_type="dropdown", choices=["free", "pro"])
    CustomFieldFactory(
        key="areas", label="Areas", field_type="multi_select", choices=["app", "api", "web"]
    )
    CustomFieldFactory(key="urgent_ok", label="Urgent ok", field_type="checkbox")
    CustomFieldFactory(key="renewal", label="Renewal", field_type="date")
    ticket = TicketFactory()
    client = signed_in_client(agent_user)

    page = client.get(f"/tickets/{ticket.pk}/").content.decode()
    client.post(
        f"/tickets/{ticket.pk}/properties/",
        properties_data(
            ticket,
            cf_order="A-1",
            cf_amount="12.5",
            cf_plan="pro",
            cf_areas=["api", "app"],
            cf_urgent_ok="on",
            cf_renewal="2030-05-01",
        ),
    )

    for name in ("cf_order", "cf_amount", "cf_plan", "cf_areas", "cf_urgent_ok", "cf_renewal"):
        assert f'name="{name}"' in page
    ticket.refresh_from_db()
    assert ticket.custom_fields == {
        "order": "A-1",
        "amount": 12.5,
        "plan": "pro",
        "areas": ["api", "app"],
        "urgent_ok": True,
        "renewal": "2030-05-01",
    }


def test_solving_without_a_required_field_shows_why(agent_user):
    CustomFieldFactory(
        key="cause", label="Root cause", field_type="text", is_required_on_solve=True
    )
    ticket = TicketFactory()

    response = signed_in_client(agent_user).post(
        f"/tickets/{ticket.pk}/properties/", properties_data(ticket, status="solved")
    )

    assert response.status_code == 422
    assert b"Fill in before solving: Root cause." in response.content
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW


def test_quick_actions_assign_to_me_and_solve(agent_user):
    ticket = TicketFactory()
    client = signed_in_client(agent_user)

    client.post(f"/tickets/{ticket.pk}/quick/", {"action": "assign_me"})
    client.post(f"/tickets/{ticket.pk}/quick/", {"action": "solve"})

    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.status) == (agent_user, Status.SOLVED)


def test_merged_ticket_points_to_its_target_and_hides_the_composer(agent_user):
    target = TicketFactory(subject="Main one")
    source = TicketFactory()
    Ticket.objects.filter(pk=source.pk).update(merged_into=target, status=Status.CLOSED)

    content = signed_in_client(agent_user).get(f"/tickets/{source.pk}/").content.decode()

    assert f'href="/tickets/{target.pk}/">#{target.pk} Main one' in content
    assert 'id="composer"' not in content


def test_unknown_ticket_is_not_found(agent_user):
    assert signed_in_client(agent_user).get("/tickets/999999/").status_code == 404


# --- attachments -----------------------------------------------------------------


def attachment_on(ticket: Ticket, *, kind: str, author=None) -> Attachment:
    entry = add_entry(
        actor=author,
        ticket=ticket,
        body="with a file",
        kind=kind,
        attachments=[NewAttachment("report.txt", b"secret numbers", "text/plain")],
        author_customer=None if author else ticket.requester,
    )
    return entry.attachments.get()


def test_staff_download_attachments_as_files(agent_user, light_agent_user):
    ticket = TicketFactory()
    public = attachment_on(ticket, kind=EntryKind.PUBLIC_REPLY)
    note = attachment_on(ticket, kind=EntryKind.INTERNAL_NOTE, author=agent_user)

    for user in (agent_user, light_agent_user):
        for attachment in (public, note):
            response = signed_in_client(user).get(f"/attachments/{attachment.pk}/")
            assert response.status_code == 200
            assert b"".join(response.streaming_content) == b"secret numbers"
            assert response["Content-Disposition"].startswith("attachment;")
            assert 'filename="report.txt"' in response["Content-Disposition"]
            assert response["X-Content-Type-Options"] == "nosniff"


def test_customer_downloads_public_files_of_own_ticket_only(customer_user, agent_user):
    own = TicketFactory(requester=customer_user.customer)
    public = attachment_on(own, kind=EntryKind.PUBLIC_REPLY)
    note = attachment_on(own, kind=EntryKind.INTERNAL_NOTE, author=agent_user)
    someone_elses = attachment_on(TicketFactory(), kind=EntryKind.PUBLIC_REPLY)
    client = signed_in_client(customer_user)

    assert client.get(f"/attachments/{public.pk}/").status_code == 200
    assert client.get(f"/attachments/{note.pk}/").status_code == 404
    assert client.get(f"/attachments/{someone_elses.pk}/").status_code == 404


def test_anonymous_download_goes_to_sign_in():
    attachment = attachment_on(TicketFactory(), kind=EntryKind.PUBLIC_REPLY)

    response = Client().get(f"/attachments/{attachment.pk}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_colleague_customer_cannot_download_unless_org_shares_requests(agent_user):
    from tests.factories import OrganizationFactory

    organization = OrganizationFactory()
    author = make_customer_user(organization=organization)
    colleague = make_customer_user(organization=organization)
    attachment = attachment_on(
        TicketFactory(requester=author.customer), kind=EntryKind.PUBLIC_REPLY
    )

    refused = signed_in_client(colleague).get(f"/attachments/{attachment.pk}/").status_code
    organization.members_see_all_requests = True
    organization.save()
    allowed = signed_in_client(colleague).get(f"/attachments/{attachment.pk}/").status_code

    assert (refused, allowed) == (404, 200)


# --- query counts ------------------------------------------------------------------


TICKET_PAGE_QUERY_LIMIT = 21  # 20 + marking the agent's notifications about the ticket read


@pytest.mark.parametrize("rows", [5, 30])
def test_ticket_page_query_count_does_not_grow_with_entries(
    agent_user, rows, django_assert_max_num_queries
):
    CustomFieldFactory(key="plan", label="Plan", field_type="dropdown", choices=["free", "pro"])
    requester = CustomerFactory()
    requester.tags.add(Tag.objects.create(name="vip"))
    ticket = TicketFactory(requester=requester, assignee=agent_user, team=TeamFactory())
    ticket.ccs.add(*[CustomerFactory() for _ in range(3)])
    colleague = make_agent()
    for index in range(rows):
        entry = EntryFactory(
            ticket=ticket,
            kind=EntryKind.INTERNAL_NOTE if index % 2 else EntryKind.PUBLIC_REPLY,
            author_user=colleague if index % 3 else agent_user,
        )
        Attachment.objects.create(
            entry=entry,
            file=f"attachments/x/{index}.txt",
            filename=f"{index}.txt",
            content_type="text/plain",
            size=3,
        )
        AuditEvent.objects.create(
            ticket=ticket, field="priority", before="low", after="high", actor=colleague, via="web"
        )
        TicketFactory(requester=requester)
    client = signed_in_client(agent_user)

    with django_assert_max_num_queries(TICKET_PAGE_QUERY_LIMIT):
        response = client.get(f"/tickets/{ticket.pk}/")

    assert response.content.decode().count('class="entry entry--') == rows + 1
    assert CustomField.objects.count() == 1
