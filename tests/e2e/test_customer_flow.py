"""A customer in the portal, an agent in the workspace, each in their own browser."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any

from django.core import mail
from playwright.sync_api import expect

from concierge.accounts.models import Role, User
from concierge.tickets.models import Attachment, Channel, Entry, EntryKind, Status, Ticket
from tests.e2e.conftest import PageWatch, assert_clean, sign_in_agent, sign_in_customer
from tests.factories import make_customer_user


def _png(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG (a grey rectangle), built here so the test needs no fixture file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_customer_signs_up_submits_a_request_with_a_file_and_reads_the_agents_reply(
    new_page: Any, watch: PageWatch, agent_user: Any, password: str, tmp_path: Path
) -> None:
    screenshot = _png()
    customer_page = new_page()

    # Sign up.
    customer_page.goto("/portal/signup/")
    customer_page.get_by_label("Your name").fill("Nora Newcomer")
    customer_page.get_by_label("Email address").fill("nora@customers.test")
    customer_page.get_by_label("Password").fill(password)
    customer_page.get_by_role("button", name="Create account").click()
    customer_page.wait_for_url("**/portal/confirm/sent/")
    assert User.objects.get(email="nora@customers.test").role == Role.CUSTOMER

    # Confirm the address with the emailed link, then sign in.
    confirmation = next(m for m in mail.outbox if m.to == ["nora@customers.test"])
    link = re.search(r"https?://[^/]+(/portal/confirm/\S+/)", confirmation.body)
    assert link is not None
    customer_page.goto(link.group(1))
    expect(customer_page.get_by_text("Your email address is confirmed")).to_be_visible()
    customer_page.get_by_role("link", name="Sign in").last.click()
    customer_page.get_by_label("Email").fill("nora@customers.test")
    customer_page.get_by_label("Password").fill(password)
    customer_page.get_by_role("button", name="Sign in").click()
    customer_page.wait_for_url("**/portal/requests/")

    # Submit a request with an attachment.
    customer_page.get_by_role("navigation", name="Portal").get_by_role(
        "link", name="New request"
    ).click()
    customer_page.wait_for_url("**/portal/requests/new/")
    customer_page.get_by_label("Subject").fill("My modem shows a red light")
    customer_page.get_by_label("Description").fill("Since this morning the **DSL** light is red.")
    customer_page.get_by_label("Attachments").set_input_files(
        [{"name": "modem.png", "mimeType": "image/png", "buffer": screenshot}]
    )
    expect(customer_page.locator(".file-list")).to_contain_text("modem.png")  # portal.js
    customer_page.get_by_role("button", name="Send request").click()
    customer_page.wait_for_url(re.compile(r"/portal/requests/\d+/$"))
    ticket = Ticket.objects.get(subject="My modem shows a red light")
    assert ticket.requester.primary_email == "nora@customers.test"
    assert ticket.channel == Channel.PORTAL
    attachment = Attachment.objects.get(entry__ticket=ticket)
    assert (attachment.filename, attachment.size) == ("modem.png", len(screenshot))
    expect(customer_page.locator(".conversation")).to_contain_text("the DSL light is red")

    # An agent answers from the workspace, in a browser of their own.
    agent_page = new_page()
    sign_in_agent(agent_page, agent_user.email, password)
    agent_page.goto(f"/tickets/{ticket.pk}/")
    expect(agent_page.locator("#timeline")).to_contain_text("modem.png")
    agent_page.locator("#composer").get_by_label("Message").fill(
        "Please unplug the modem for ten seconds, then plug it back in."
    )
    agent_page.locator("#composer").get_by_role("button", name="Send reply").click()
    agent_page.wait_for_url(re.compile(rf"/tickets/{ticket.pk}/#entry-\d+$"))
    assert Entry.objects.filter(
        ticket=ticket, author_user=agent_user, kind=EntryKind.PUBLIC_REPLY
    ).exists()

    # The customer sees the reply and downloads their file.
    customer_page.reload()
    reply = customer_page.locator(".message--team")
    expect(reply).to_contain_text("unplug the modem for ten seconds")
    expect(reply).to_contain_text(agent_user.name)
    with customer_page.expect_download() as download_info:
        customer_page.get_by_role("link", name="modem.png").click()
    download = download_info.value
    assert download.suggested_filename == "modem.png"
    saved = tmp_path / "downloaded.png"
    download.save_as(saved)
    assert saved.read_bytes() == screenshot
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert_clean(watch)


def test_customer_cannot_open_another_customers_request_or_file(
    new_page: Any, watch: PageWatch, customer_user: Any, password: str
) -> None:
    from concierge.tickets import actions as ticket_actions

    secret = b"%PDF-1.4\n% Private contract of Cora\n%%EOF\n"
    ticket = ticket_actions.create_ticket(
        actor=customer_user,
        requester=customer_user.customer,
        subject="Private: my contract renewal",
        body="My account number is 99-1234.",
        attachments=[
            ticket_actions.NewAttachment("contract.pdf", secret, "application/pdf"),
        ],
    )
    attachment = Attachment.objects.get(entry__ticket=ticket)
    other = make_customer_user(name="Otto Other", email="otto@elsewhere.test")
    entries_before = Entry.objects.count()

    page = new_page()
    sign_in_customer(page, other.email, password)
    for url in (f"/portal/requests/{ticket.pk}/", f"/attachments/{attachment.pk}/"):
        response = page.goto(url)
        assert response is not None and response.status == 404, url
        content = page.content()
        assert "contract renewal" not in content
        assert "99-1234" not in content
        assert "contract.pdf" not in content
        assert "Private contract" not in content
    # The other customer's list does not show it either.
    page.goto("/portal/requests/")
    expect(page.locator("main")).not_to_contain_text("contract renewal")

    assert Entry.objects.count() == entries_before
    # The only browser complaints are the two refused loads themselves.
    refused = [
        error
        for error in watch.console_errors
        if error.endswith((f"/portal/requests/{ticket.pk}/)", f"/attachments/{attachment.pk}/)"))
    ]
    assert len(refused) == 2
    watch.console_errors = [error for error in watch.console_errors if error not in refused]
    assert_clean(watch)
