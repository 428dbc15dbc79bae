"""Two agents in two browsers see each other's work live, without reloading.

The pages are served by a real ASGI server process (uvicorn, the embedded
profile: in-memory channel layer) because Django's test live server speaks
WSGI only and cannot hold WebSockets. Agent Ana creates a ticket and
replies; agent Bo sees the ticket appear in his inbox and the reply appear
on the ticket page, and sees Ana viewing and typing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PageWatch, assert_clean
from tests.realtime.conftest import Nodes, running_nodes

PASSWORD = "live-Workspace-Horse-42"

SETUP = """
from concierge.accounts.models import User
from concierge.customers.models import Customer
from concierge.tickets import actions
for email, name in [("ana@live.test", "Ana Live"), ("bo@live.test", "Bo Live")]:
    User.objects.create_user(email, {password!r}, name=name, role="agent", availability="online")
customer = Customer.objects.create(name="Carla Customer")
existing = actions.create_ticket(
    actor=None, requester=customer, subject="Printer on fire", body="Send help", channel="email"
)
print(customer.pk, existing.pk)
"""


@pytest.fixture(scope="module")
def asgi_node(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: None, django_db_blocker: Any
) -> Iterator[Nodes]:
    """One uvicorn process serving the workspace over HTTP and WebSockets."""
    with running_nodes(
        ["live"], tmp_path_factory.mktemp("live_node"), django_db_blocker, redis_url=None
    ) as nodes:
        yield nodes


def sign_in(page: Any, base_url: str, email: str) -> None:
    page.goto(base_url + "/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox/**")
    expect(page.locator("[data-live-status]")).to_have_text("Live")


@pytest.mark.django_db
def test_second_agent_sees_new_ticket_reply_viewer_and_typing_live(
    asgi_node: Nodes, new_page: Any, watch: PageWatch
) -> None:
    try:
        _two_agents_work_live(asgi_node, new_page, watch)
    except Exception as failure:  # assertion or Playwright timeout: show the server's side
        log = asgi_node.nodes[0].log()
        raise AssertionError(f"{failure}\n--- server log ---\n{log}") from failure


def _two_agents_work_live(asgi_node: Nodes, new_page: Any, watch: PageWatch) -> None:
    customer_id, existing_id = map(
        int, asgi_node.run_python(SETUP.format(password=PASSWORD)).split()
    )
    base = asgi_node.nodes[0].url
    ana, bo = new_page(), new_page()
    sign_in(ana, base, "ana@live.test")
    sign_in(bo, base, "bo@live.test")

    # Bo watches the "All open" view; Ana opens a ticket for the customer.
    bo.goto(base + "/inbox/all-open/")
    expect(bo.get_by_role("link", name="Printer on fire")).to_be_visible()
    bo.evaluate("() => { window.pageMarker = 'loaded once'; }")
    ana.goto(f"{base}/tickets/new/?customer={customer_id}")
    ana.get_by_label("Subject").fill("Coffee machine leaks")
    ana.get_by_label("Description").fill("Water everywhere in the kitchen.")
    ana.get_by_role("button", name="Create ticket").click()
    ana.wait_for_url("**/tickets/*/")
    new_ticket_url = ana.url
    # ... and it appears in Bo's inbox without a reload.
    expect(bo.get_by_role("link", name="Coffee machine leaks")).to_be_visible()
    assert bo.evaluate("() => window.pageMarker") == "loaded once"  # no reload happened

    # Both open the existing ticket: each sees the other viewing.
    bo.goto(f"{base}/tickets/{existing_id}/")
    ana.goto(f"{base}/tickets/{existing_id}/")
    expect(bo.locator("[data-live-viewers]")).to_contain_text("Also viewing: Ana Live")
    expect(ana.locator("[data-live-viewers]")).to_contain_text("Also viewing: Bo Live")

    # Ana types a reply: Bo sees it; Ana sends it: it lands in Bo's timeline.
    ana.locator("#composer").get_by_label("Message").press_sequentially("We are on our way")
    expect(bo.locator("[data-live-viewers]")).to_contain_text("Ana Live is typing")
    ana.locator("#composer").get_by_role("button", name="Send reply").click()
    ana.wait_for_url(f"**/tickets/{existing_id}/#entry-*")
    expect(bo.locator("#timeline")).to_contain_text("We are on our way")
    expect(bo.locator("#ticket-status")).to_have_text("Open")  # the reply opened the ticket

    # Bo replies from a page loaded before Ana's entry: he is asked first, and the
    # browser's default answer here (dismiss) sends nothing and keeps his draft.
    composer = bo.locator("#composer")
    composer.get_by_label("Message").fill("I can take it from here")
    composer.get_by_role("button", name="Send reply").click()
    expect(composer.get_by_label("Message")).to_have_value("I can take it from here")
    for _ in range(50):  # the dialog event reaches Python a moment after the click
        if watch.dialogs:
            break
        bo.wait_for_timeout(100)
    assert len(watch.dialogs) == 1
    assert "arrived since you opened this ticket (from Ana Live)" in watch.dialogs[0]
    assert "Send yours anyway?" in watch.dialogs[0]
    # Confirming sends it (the page now tells the server it has seen Ana's entry).
    bo.evaluate("() => { window.confirm = () => true; }")
    composer.get_by_role("button", name="Send reply").click()
    bo.wait_for_url(f"**/tickets/{existing_id}/#entry-*")
    expect(bo.locator("#timeline")).to_contain_text("I can take it from here")

    assert new_ticket_url.startswith(base)
    watch.dialogs.clear()  # the one confirmation asked above, checked there
    assert_clean(watch)
