"""Portal requests: submit, read, reply, solve, follow up; and who sees what."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from concierge.tickets.models import Attachment, Entry, EntryKind, Status, Ticket
from tests.conftest import signed_in_client
from tests.factories import (
    CustomFieldFactory,
    EntryFactory,
    OrganizationFactory,
    TicketFactory,
    make_agent,
    make_customer_user,
)

pytestmark = pytest.mark.django_db

NEW_URL = "/portal/requests/new/"
LIST_URL = "/portal/requests/"


def _detail(ticket: Ticket) -> str:
    return f"/portal/requests/{ticket.pk}/"


def _upload(name: str = "invoice.pdf", content: bytes = b"%PDF-1.4 test") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


# --- submitting --------------------------------------------------------------------


def test_customer_submits_request_with_attachments(customer_user):
    client = signed_in_client(customer_user)

    response = client.post(
        NEW_URL,
        {
            "subject": "Charged twice",
            "description": "My card was **charged** twice.",
            "attachments": [_upload(), _upload("receipt.png", b"\x89PNG fake")],
        },
    )

    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _detail(ticket)
    assert ticket.subject == "Charged twice"
    assert ticket.channel == "portal"
    assert ticket.requester == customer_user.customer
    entry = ticket.entries.get()
    assert entry.author_customer == customer_user.customer
    assert sorted(a.filename for a in entry.attachments.all()) == ["invoice.pdf", "receipt.png"]
    page = client.get(_detail(ticket)).content.decode()
    for attachment in entry.attachments.all():
        assert f'href="/attachments/{attachment.pk}/"' in page
    assert "<strong>charged</strong>" in page


def test_request_without_subject_is_refused_keeping_what_was_typed(customer_user):
    response = signed_in_client(customer_user).post(
        NEW_URL, {"subject": "   ", "description": "Details <b>here</b>"}
    )

    assert response.status_code == 400
    content = response.content.decode()
    assert "This field is required." in content
    assert "Details &lt;b&gt;here&lt;/b&gt;" in content
    assert Ticket.objects.count() == 0


@override_settings(ATTACHMENT_MAX_BYTES=1024 * 1024)
def test_oversized_attachment_is_refused_naming_the_limit(customer_user):
    big = _upload("scan.pdf", b"x" * (1024 * 1024 + 200_000))

    response = signed_in_client(customer_user).post(
        NEW_URL, {"subject": "Scan", "description": "See scan", "attachments": [big]}
    )

    assert response.status_code == 413
    content = response.content.decode()
    assert "the attachment size limit is 1 MB" in content
    assert 'value="Scan"' in content
    assert "See scan" in content
    assert "please choose them again" in content
    assert Ticket.objects.count() == 0
    assert Attachment.objects.count() == 0


def test_blocked_file_type_is_refused(customer_user):
    response = signed_in_client(customer_user).post(
        NEW_URL,
        {
            "subject": "Page",
            "description": "My page",
            "attachments": [_upload("page.html", b"<script>alert(1)</script>")],
        },
    )

    assert response.status_code == 422
    assert ".html files are not accepted." in response.content.decode()
    assert Ticket.objects.count() == 0


def test_only_customer_visible_custom_fields_are_offered_and_shown(customer_user):
    CustomFieldFactory(
        key="product", label="Product", field_type="dropdown",
        choices=["Phone", "Laptop"], is_customer_visible=True,
    )  # fmt: skip
    CustomFieldFactory(
        key="order_date", label="Order date", field_type="date", is_customer_visible=True
    )
    CustomFieldFactory(key="risk", label="Churn risk", field_type="text", is_customer_visible=False)
    client = signed_in_client(customer_user)

    form_page = client.get(NEW_URL).content.decode()
    client.post(
        NEW_URL,
        {
            "subject": "Broken",
            "description": "It broke",
            "cf_product": "Laptop",
            "cf_order_date": "2024-05-01",
            "cf_risk": "high",
        },
    )

    assert "Product" in form_page and 'type="date"' in form_page
    assert "Churn risk" not in form_page
    ticket = Ticket.objects.get()
    assert ticket.custom_fields == {"product": "Laptop", "order_date": "2024-05-01"}
    ticket.custom_fields["risk"] = "very high"
    ticket.save()
    detail = client.get(_detail(ticket)).content.decode()
    assert "Laptop" in detail
    assert "Churn risk" not in detail and "very high" not in detail


def test_invalid_custom_field_choice_keeps_the_form(customer_user):
    CustomFieldFactory(
        key="product", label="Product", field_type="dropdown",
        choices=["Phone"], is_customer_visible=True,
    )  # fmt: skip

    response = signed_in_client(customer_user).post(
        NEW_URL, {"subject": "Help", "description": "Text", "cf_product": "Toaster"}
    )

    assert response.status_code == 400
    assert 'value="Help"' in response.content.decode()
    assert Ticket.objects.count() == 0


# --- the conversation ------------------------------------------------------------------


def test_customer_replies_with_attachment(customer_user):
    ticket = TicketFactory(requester=customer_user.customer, status=Status.PENDING)
    client = signed_in_client(customer_user)

    response = client.post(
        f"{_detail(ticket)}reply/",
        {"body": "Here is the log.", "attachments": [_upload("log.txt")]},
    )

    assert response["Location"] == _detail(ticket)
    reply = ticket.entries.order_by("-id").first()
    assert reply.author_customer == customer_user.customer
    assert reply.kind == EntryKind.PUBLIC_REPLY
    assert [a.filename for a in reply.attachments.all()] == ["log.txt"]
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN


def test_empty_reply_is_refused_and_changes_nothing(customer_user):
    ticket = TicketFactory(requester=customer_user.customer)

    response = signed_in_client(customer_user).post(f"{_detail(ticket)}reply/", {"body": "  "})

    assert response.status_code == 400
    assert "Write a message or attach a file." in response.content.decode()
    assert ticket.entries.count() == 1


def test_customer_marks_request_solved(customer_user):
    ticket = TicketFactory(requester=customer_user.customer, status=Status.OPEN)
    client = signed_in_client(customer_user)
    assert "Mark as solved" in client.get(_detail(ticket)).content.decode()

    response = client.post(f"{_detail(ticket)}solve/")

    ticket.refresh_from_db()
    assert response["Location"] == _detail(ticket)
    assert ticket.status == Status.SOLVED
    assert "Mark as solved" not in client.get(_detail(ticket)).content.decode()


def test_closed_request_offers_follow_up_instead_of_reply(customer_user):
    closed = TicketFactory(requester=customer_user.customer, status=Status.CLOSED)
    client = signed_in_client(customer_user)

    page = client.get(_detail(closed)).content.decode()
    refused = client.post(f"{_detail(closed)}reply/", {"body": "One more thing"})
    response = client.post(f"{_detail(closed)}follow-up/", {"body": "It broke again."})

    assert "Open a follow-up" in page
    assert "Send reply" not in page
    assert refused.status_code == 409
    assert closed.entries.count() == 1
    follow_up = Ticket.objects.get(follow_up_of=closed)
    assert response["Location"] == _detail(follow_up)
    assert follow_up.requester == customer_user.customer
    assert (
        follow_up.entries.filter(kind=EntryKind.PUBLIC_REPLY).get().body_source == "It broke again."
    )


def test_follow_up_on_open_request_is_refused(customer_user):
    ticket = TicketFactory(requester=customer_user.customer, status=Status.OPEN)

    response = signed_in_client(customer_user).post(
        f"{_detail(ticket)}follow-up/", {"body": "Again"}
    )

    assert response.status_code == 409
    assert Ticket.objects.count() == 1


def test_merged_request_points_to_where_it_continues(customer_user):
    target = TicketFactory(requester=customer_user.customer)
    merged = TicketFactory(
        requester=customer_user.customer, status=Status.CLOSED, merged_into=target
    )

    page = signed_in_client(customer_user).get(_detail(merged)).content.decode()

    assert f'href="{_detail(target)}"' in page
    assert "merged into" in page
    assert "Open a follow-up" not in page and "Send reply" not in page


def test_internal_notes_are_never_shown(customer_user):
    ticket = TicketFactory(requester=customer_user.customer)
    agent = make_agent()
    EntryFactory(
        ticket=ticket, kind=EntryKind.INTERNAL_NOTE, author_user=agent,
        body_source="SECRET-NOTE", body_html="<p>SECRET-NOTE</p>",
    )  # fmt: skip
    EntryFactory(
        ticket=ticket, author_user=agent, body_source="Public", body_html="<p>PUBLIC-REPLY</p>"
    )

    page = signed_in_client(customer_user).get(_detail(ticket)).content.decode()

    assert "PUBLIC-REPLY" in page
    assert "SECRET-NOTE" not in page


# --- who sees what ----------------------------------------------------------------------


def _colleagues(*, members_see_all: bool):
    organization = OrganizationFactory(members_see_all_requests=members_see_all)
    me = make_customer_user(organization=organization)
    colleague = make_customer_user(organization=organization)
    ticket = TicketFactory(
        requester=colleague.customer, subject="Colleague's secret matter", status=Status.OPEN
    )
    return me, ticket


def test_colleague_request_is_hidden_without_organization_visibility():
    me, ticket = _colleagues(members_see_all=False)
    client = signed_in_client(me)

    listing = client.get(LIST_URL).content.decode()
    detail = client.get(_detail(ticket))
    reply = client.post(f"{_detail(ticket)}reply/", {"body": "Let me in"})
    solve = client.post(f"{_detail(ticket)}solve/")
    follow_up = client.post(f"{_detail(ticket)}follow-up/", {"body": "Let me in"})

    assert "Colleague&#x27;s secret matter" not in listing
    assert "My organization" not in listing
    assert [detail.status_code, reply.status_code, solve.status_code, follow_up.status_code] == [
        404
    ] * 4
    assert b"secret matter" not in detail.content
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.entries.count() == 1
    assert Ticket.objects.count() == 1


def test_colleague_request_is_visible_with_organization_visibility():
    me, ticket = _colleagues(members_see_all=True)
    own = TicketFactory(requester=me.customer, subject="My own matter")
    client = signed_in_client(me)

    everything = client.get(LIST_URL).content.decode()
    mine = client.get(LIST_URL, {"scope": "mine"}).content.decode()
    organization = client.get(LIST_URL, {"scope": "organization"}).content.decode()
    detail = client.get(_detail(ticket))

    assert "My organization" in everything
    assert "Colleague&#x27;s secret matter" in everything and "My own matter" in everything
    assert "Colleague&#x27;s secret matter" not in mine and "My own matter" in mine
    assert "Colleague&#x27;s secret matter" in organization
    assert detail.status_code == 200
    assert own.pk != ticket.pk


def test_other_customers_request_is_404_and_leaks_nothing(customer_user):
    stranger = make_customer_user()
    ticket = TicketFactory(requester=stranger.customer, subject="Stranger subject")

    response = signed_in_client(customer_user).get(_detail(ticket))

    assert response.status_code == 404
    assert b"Stranger subject" not in response.content


def test_cc_request_is_listed_for_the_cc(customer_user):
    ticket = TicketFactory(requester=make_customer_user().customer, subject="Copied in")
    ticket.ccs.add(customer_user.customer)

    listing = signed_in_client(customer_user).get(LIST_URL).content.decode()

    assert "Copied in" in listing


def test_request_list_speaks_the_customers_language(customer_user):
    TicketFactory(requester=customer_user.customer, subject="Waiting on me", status=Status.PENDING)
    TicketFactory(requester=customer_user.customer, subject="All done", status=Status.CLOSED)
    TicketFactory(requester=customer_user.customer, subject="Being worked", status=Status.ON_HOLD)
    client = signed_in_client(customer_user)

    listing = client.get(LIST_URL).content.decode()
    awaiting = client.get(LIST_URL, {"status": "awaiting"}).content.decode()

    assert "Awaiting your reply" in listing and "Solved" in listing and ">Open<" in listing
    assert "on hold" not in listing.lower() and "Closed" not in listing
    assert "Waiting on me" in awaiting and "All done" not in awaiting


def test_typed_subject_is_escaped_in_the_list(customer_user):
    TicketFactory(requester=customer_user.customer, subject="<script>alert(1)</script>")

    listing = signed_in_client(customer_user).get(LIST_URL).content.decode()

    assert "<script>alert(1)</script>" not in listing
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing


def _list_query_count(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST_URL)
    assert response.status_code == 200
    return len(queries)


def test_request_list_query_count_does_not_grow_with_rows():
    organization = OrganizationFactory(members_see_all_requests=True)
    me = make_customer_user(organization=organization)
    colleague = make_customer_user(organization=organization)
    TicketFactory(requester=me.customer)
    TicketFactory(requester=colleague.customer)
    client = signed_in_client(me)
    few = _list_query_count(client)

    for index in range(10):
        TicketFactory(requester=(me if index % 2 else colleague).customer)
    many = _list_query_count(client)

    assert Entry.objects.count() == 12
    assert many == few


def test_portal_pages_have_no_inline_script_or_style(customer_user):
    CustomFieldFactory(key="product", label="Product", field_type="multi_select",
                       choices=["A", "B"], is_customer_visible=True)  # fmt: skip
    ticket = TicketFactory(requester=customer_user.customer)
    client = signed_in_client(customer_user)
    pages = [LIST_URL, NEW_URL, _detail(ticket)]
    anonymous_pages = ["/portal/login/", "/portal/signup/", "/portal/magic-link/"]

    contents = [client.get(url).content.decode() for url in pages]
    contents += [Client().get(url).content.decode() for url in anonymous_pages]

    for content in contents:
        assert 'class="portal"' in content
        assert "portal.css" in content
        assert " style=" not in content
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", content) == []
