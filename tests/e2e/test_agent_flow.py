"""An agent works a ticket in Chromium: sign in, open from the inbox, reply, solve."""

from __future__ import annotations

import re
from typing import Any, cast

from playwright.sync_api import expect

from concierge.tickets.models import Entry, EntryKind, Priority, Status, Ticket
from tests.e2e.conftest import PageWatch, assert_clean, sign_in_agent
from tests.factories import CustomerFactory, TicketFactory


def _assigned_tickets(agent: Any) -> list[Ticket]:
    """Three open tickets in the agent's "My open" view, newest first."""
    customer = CustomerFactory(name="Maya Requester")
    subjects = ["Router keeps rebooting", "Invoice shows the wrong plan", "Cannot reset my PIN"]
    return [
        cast(
            Ticket,
            TicketFactory(subject=subject, requester=customer, assignee=agent, status=Status.OPEN),
        )
        for subject in subjects
    ]


def test_agent_replies_from_the_inbox_and_solves_the_ticket(
    page: Any, watch: PageWatch, agent_user: Any, password: str
) -> None:
    tickets = _assigned_tickets(agent_user)
    target = tickets[0]

    sign_in_agent(page, agent_user.email, password)
    expect(page.get_by_role("heading", name="My open")).to_be_visible()
    # The static front end (htmx, Alpine's CSP build, our workspace.js) loaded and started.
    assert page.evaluate("() => Boolean(window.htmx && window.Alpine)")

    page.get_by_role("link", name=target.subject).click()
    page.wait_for_url(f"**/tickets/{target.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(target.subject)

    composer = page.locator("#composer")
    composer.get_by_label("Message").fill("Thanks for the details: a firmware update fixes this.")
    composer.get_by_label("Submit as").select_option(Status.SOLVED)
    composer.get_by_role("button", name="Send reply").click()

    page.wait_for_url(re.compile(rf"/tickets/{target.pk}/#entry-\d+$"))
    expect(page.locator("#ticket-status")).to_have_text("Solved")
    expect(page.locator("#timeline")).to_contain_text("a firmware update fixes this")
    target.refresh_from_db()
    assert target.status == Status.SOLVED
    assert target.solved_at is not None
    reply = Entry.objects.get(ticket=target, author_user=agent_user)
    assert reply.kind == EntryKind.PUBLIC_REPLY
    assert reply.body_source == "Thanks for the details: a firmware update fixes this."
    assert_clean(watch)


def test_agent_solves_a_ticket_in_the_properties_panel(
    page: Any, watch: PageWatch, agent_user: Any, password: str
) -> None:
    target = _assigned_tickets(agent_user)[1]
    sign_in_agent(page, agent_user.email, password)
    page.goto(f"/tickets/{target.pk}/")

    panel = page.locator("#ticket-properties")
    panel.get_by_label("Status").select_option(Status.SOLVED)
    panel.get_by_label("Priority").select_option(Priority.HIGH)
    panel.get_by_role("button", name="Save changes").click()

    # htmx swapped the panel in place and, out of band, the header status and the timeline.
    expect(page.locator("#ticket-properties")).to_contain_text("Saved.")
    expect(page.locator("#ticket-status")).to_have_text("Solved")
    expect(page.locator("#timeline")).to_contain_text("Priority")
    assert page.url.endswith(f"/tickets/{target.pk}/")
    target.refresh_from_db()
    assert (target.status, target.priority) == (Status.SOLVED, Priority.HIGH)
    assert_clean(watch)


def test_keyboard_shortcuts_open_help_move_through_the_inbox_and_focus_the_reply(
    page: Any, watch: PageWatch, agent_user: Any, password: str
) -> None:
    tickets = _assigned_tickets(agent_user)
    sign_in_agent(page, agent_user.email, password)
    rows = page.locator("[data-ticket-list] [data-ticket-row]")
    expect(rows).to_have_count(3)
    page.locator("body").click(position={"x": 5, "y": 5})  # keys go to the page, not a field

    help_overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_overlay).to_be_hidden()
    page.keyboard.press("?")
    expect(help_overlay).to_be_visible()
    page.keyboard.press("Escape")
    expect(help_overlay).to_be_hidden()

    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bis-current\b"))
    expect(rows.nth(0)).not_to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("j")
    second_id = rows.nth(1).get_attribute("data-ticket-id")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/tickets/{second_id}/")

    # On a ticket, j / k step through the list the agent came from.
    newest_first = sorted(tickets, key=lambda ticket: ticket.updated_at, reverse=True)
    assert second_id == str(newest_first[1].pk)
    page.keyboard.press("j")
    page.wait_for_url(f"**/tickets/{newest_first[2].pk}/")
    page.keyboard.press("k")
    page.wait_for_url(f"**/tickets/{newest_first[1].pk}/")

    page.keyboard.press("r")
    body = page.locator('#composer textarea[name="body"]')
    expect(body).to_be_focused()
    expect(page.locator('#composer input[name="kind"][value="reply"]')).to_be_checked()
    page.keyboard.type("jk typed here stays text")  # shortcuts are off while typing
    expect(body).to_have_value("jk typed here stays text")
    assert page.url.endswith(f"/tickets/{newest_first[1].pk}/")
    assert_clean(watch)


def test_the_header_keeps_room_to_search_and_folds_the_nav_on_a_narrow_laptop(
    page: Any, watch: PageWatch, agent_user: Any, password: str
) -> None:
    sign_in_agent(page, agent_user.email, password)
    search = page.get_by_role("searchbox", name="Search tickets and customers")
    nav = page.get_by_role("navigation", name="Main")

    # 1280 px: every link, the agent's controls and a search box one can read.
    expect(nav.get_by_role("link", name="Customers")).to_be_visible()
    assert search.bounding_box()["width"] >= 120
    assert page.locator(".ws-header").bounding_box()["height"] < 70  # one row

    # 1100 px: the nav folds behind the menu button; the search keeps its room.
    page.set_viewport_size({"width": 1100, "height": 900})
    expect(nav.get_by_role("link", name="Customers")).to_be_hidden()
    assert search.bounding_box()["width"] >= 200
    page.get_by_role("button", name="Menu").click()
    nav.get_by_role("link", name="Customers").click()
    page.wait_for_url("**/customers/**")
    assert_clean(watch)
