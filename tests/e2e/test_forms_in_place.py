"""Forms that save in place (htmx): their errors, refusals and an ended session show.

htmx swaps nothing for a 4xx answer by default, so a form answering with its
errors looked ignored; base.html's htmx-config swaps those in, htmx_errors.js
says so when a change is refused, and an ended session sends the page to sign in.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from concierge.accounts.models import Role
from concierge.tickets.models import Status
from tests.e2e.conftest import PageWatch, sign_in_agent
from tests.factories import CustomerFactory, TicketFactory


def _open_ticket(page: Any, agent: Any, password: str) -> Any:
    ticket = TicketFactory(
        subject="Router keeps rebooting",
        requester=CustomerFactory(name="Maya Requester"),
        assignee=agent,
        status=Status.OPEN,
    )
    sign_in_agent(page, agent.email, password)
    page.goto(f"/tickets/{ticket.pk}/")
    return ticket


def _no_script_errors(watch: PageWatch) -> None:
    # Console errors are expected here: Chromium logs every 4xx answer as one.
    assert watch.page_errors == [] and watch.csp_violations == [] and watch.dialogs == []


def test_a_properties_error_shows_in_the_panel(
    page: Any, watch: PageWatch, agent_user: Any, password: str
) -> None:
    ticket = _open_ticket(page, agent_user, password)
    panel = page.locator("#ticket-properties")
    panel.get_by_label("CCs").fill("nobody-we-know@example.com")
    panel.get_by_label("Status").select_option(Status.SOLVED)
    panel.get_by_role("button", name="Save changes").click()

    expect(page.locator("#ticket-properties")).to_contain_text(
        "No customer with: nobody-we-know@example.com"
    )
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert page.url.endswith(f"/tickets/{ticket.pk}/")
    _no_script_errors(watch)


def test_a_refused_change_says_so(
    page: Any, watch: PageWatch, agent_user: Any, password: str
) -> None:
    ticket = _open_ticket(page, agent_user, password)
    # An admin makes the agent a light agent while the page is open.
    agent_user.role = Role.LIGHT_AGENT
    agent_user.save(update_fields=["role"])

    panel = page.locator("#ticket-properties")
    panel.get_by_label("Status").select_option(Status.SOLVED)
    panel.get_by_role("button", name="Save changes").click()

    notice = page.locator("[data-request-error]")
    expect(notice).to_contain_text("not allowed")
    expect(notice).to_have_attribute("role", "alert")
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    _no_script_errors(watch)


def test_an_ended_session_sends_the_page_to_sign_in_and_back(
    page: Any, watch: PageWatch, agent_user: Any, password: str
) -> None:
    ticket = _open_ticket(page, agent_user, password)
    page.context.clear_cookies(name="sessionid")  # signed out elsewhere, or expired

    panel = page.locator("#ticket-properties")
    panel.get_by_label("Status").select_option(Status.SOLVED)
    panel.get_by_role("button", name="Save changes").click()

    page.wait_for_url("**/login/**")
    assert f"next=/tickets/{ticket.pk}/" in page.url.replace("%2F", "/")
    expect(page.locator("#ticket-properties")).to_have_count(0)  # not swapped into a panel
    page.get_by_label("Email").fill(agent_user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/tickets/{ticket.pk}/")
    _no_script_errors(watch)


def test_an_admin_tries_a_message_on_the_triage_settings(
    page: Any, watch: PageWatch, admin_user: Any, password: str
) -> None:
    from concierge.ai.actions import save_category

    save_category(
        actor=admin_user,
        name="billing",
        description="Charges, refunds and invoices",
        examples="I was charged twice\nI want a refund",
    )
    save_category(
        actor=admin_user,
        name="shipping",
        description="Deliveries and tracking",
        examples="Where is my parcel?\nMy order has not arrived",
    )
    sign_in_agent(page, admin_user.email, password)
    page.goto("/settings/triage/")
    tried = page.locator("#triage-try")

    tried.get_by_label("Customer's message").fill("   ")  # blank: the form says so
    tried.get_by_role("button", name="Try").click()
    expect(page.locator("#triage-try")).to_contain_text("Type a customer's message to try.")

    page.locator("#triage-try").get_by_label("Customer's message").fill(
        "My parcel never arrived and the tracking page is blank"
    )
    page.locator("#triage-try").get_by_role("button", name="Try").click()
    intent = page.locator('#triage-try tr[data-kind="intent"]')
    expect(intent.locator("[data-label]")).to_have_attribute("data-label", "shipping")
    expect(page.locator('#triage-try tr[data-kind="sentiment"]')).to_be_visible()
    assert page.url.endswith("/settings/triage/")  # swapped in place
    _no_script_errors(watch)
