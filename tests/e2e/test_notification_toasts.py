"""Live notification pop-ups in Chromium: a short stack, newest on top, gone by themselves.

The page comes from a real ASGI server process (the workspace goes live only
over ASGI; see test_live_workspace.py). Its socket's server end is played by
Playwright (``route_web_socket``): what /ws/agent/ sends to whom is proven in
tests/realtime and tests/automation; here the frames it would send drive
live.js, and the browser's clock is fast-forwarded instead of waiting for
the pop-ups to time out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PageWatch, assert_clean
from tests.realtime.conftest import Nodes, running_nodes

PASSWORD = "Toast-Stack-Walrus-17"

SETUP = """
from concierge.accounts.models import User
from concierge.customers.models import Customer
from concierge.tickets import actions
agent = User.objects.create_user(
    {email!r}, {password!r}, name="Tess Toast", role="agent", availability="online"
)
customer = Customer.objects.create(name="Carla Customer")
tickets = [
    actions.create_ticket(
        actor=None, requester=customer, subject=f"Ticket {{n}}", body="Help", channel="email"
    )
    for n in range(5)
]
print(agent.pk, *(ticket.pk for ticket in tickets))
"""


@pytest.fixture(scope="module")
def asgi_node(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: None, django_db_blocker: Any
) -> Iterator[Nodes]:
    with running_nodes(
        ["toasts"], tmp_path_factory.mktemp("toast_node"), django_db_blocker, redis_url=None
    ) as nodes:
        yield nodes


class FakeAgentSocket:
    """The server end of /ws/agent/: greets, confirms resumes, sends what the test says."""

    def __init__(self) -> None:
        self.route: Any = None
        self.next_id = 1000

    def accept(self, route: Any) -> None:
        self.route = route
        route.on_message(self._on_message)
        route.send(json.dumps({"type": "hello", "heartbeat_seconds": 25, "presence": []}))

    def _on_message(self, message: str | bytes) -> None:
        frame = json.loads(message)
        if frame.get("type") == "resume":
            self.route.send(json.dumps({"type": "resumed", "last_event_id": self.next_id}))

    def event(self, kind: str, data: dict[str, Any]) -> None:
        self.next_id += 1
        frame = {"type": "event", "id": self.next_id, "stream": "staff", "kind": kind, "data": data}
        self.route.send(json.dumps(frame))


@pytest.mark.django_db
def test_notification_popups_stack_at_most_three_and_close_by_click_key_and_time(
    asgi_node: Nodes, page: Any, watch: PageWatch
) -> None:
    agent_id, *ticket_ids = map(
        int, asgi_node.run_python(SETUP.format(email="toast@live.test", password=PASSWORD)).split()
    )
    base = asgi_node.nodes[0].url
    socket = FakeAgentSocket()
    page.route_web_socket("**/ws/agent/", socket.accept)
    page.clock.install()
    page.goto(base + "/login/")
    page.get_by_label("Email").fill("toast@live.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox/**")
    expect(page.locator("[data-live-status]")).to_have_text("Live")

    for number, ticket_id in enumerate(ticket_ids, start=1):
        socket.event(
            "automation.notification",
            {"ticket_id": ticket_id, "user_ids": [agent_id], "message": f"Notice {number}"},
        )
    stack = page.locator("[data-notification-toasts]")
    toasts = stack.locator("[data-notification-toast]")

    # At most three at once, newest on top; the bell counts all five.
    expect(toasts).to_have_count(3)
    expect(toasts).to_have_text(["Notice 5×", "Notice 4×", "Notice 3×"])
    expect(page.locator("[data-notification-count]")).to_have_text("5")
    assert stack.get_attribute("role") == "status"
    assert stack.get_attribute("aria-live") == "polite"
    expect(toasts.first.get_by_role("link", name="Notice 5")).to_have_attribute(
        "href", f"/tickets/{ticket_ids[4]}/"
    )

    # Closed by a click on its button ...
    toasts.first.get_by_role("button", name="Dismiss notification").click()
    expect(toasts).to_have_text(["Notice 4×", "Notice 3×"])
    # ... and by Escape from the keyboard; the focus moves to the next one.
    toasts.first.get_by_role("link").focus()
    page.keyboard.press("Escape")
    expect(toasts).to_have_text(["Notice 3×"])
    expect(toasts.first.get_by_role("link")).to_be_focused()

    # A pop-up with the focus (or the pointer) on it waits; the others go by themselves.
    socket.event(
        "automation.notification",
        {"ticket_id": ticket_ids[0], "user_ids": [agent_id], "message": "Notice 6"},
    )
    expect(toasts).to_have_text(["Notice 6×", "Notice 3×"])
    page.clock.fast_forward(9000)
    expect(toasts).to_have_text(["Notice 3×"])
    page.locator("h1").first.click()  # the focus leaves: its time starts again
    page.clock.fast_forward(9000)
    expect(toasts).to_have_count(0)

    # Someone else's notification never shows (the server does not send it; the page
    # would not show it either), and reading elsewhere sets the bell to the true count.
    socket.event(
        "automation.notification",
        {"ticket_id": ticket_ids[0], "user_ids": [agent_id + 1], "message": "Not yours"},
    )
    socket.event("automation.notifications_read", {"user_ids": [agent_id], "unread": 2})
    expect(page.locator("[data-notification-count]")).to_have_text("2")
    expect(toasts).to_have_count(0)
    socket.event("automation.notifications_read", {"user_ids": [agent_id], "unread": 0})
    expect(page.locator("[data-notification-count]")).to_be_hidden()
    assert_clean(watch)


@pytest.mark.django_db
def test_a_notice_about_the_ticket_on_screen_is_read_at_once(
    asgi_node: Nodes, page: Any, watch: PageWatch
) -> None:
    agent_id, watched, elsewhere, *_ = map(
        int,
        asgi_node.run_python(SETUP.format(email="watcher@live.test", password=PASSWORD)).split(),
    )
    base = asgi_node.nodes[0].url
    socket = FakeAgentSocket()
    page.route_web_socket("**/ws/agent/", socket.accept)
    page.goto(base + "/login/")
    page.get_by_label("Email").fill("watcher@live.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox/**")
    page.goto(f"{base}/tickets/{watched}/")
    expect(page.locator("[data-live-status]")).to_have_text("Live")
    count = page.locator("[data-notification-count]")
    toasts = page.locator("[data-notification-toast]")

    # About the ticket on screen: the page tells the server it is read; no bell, no pop-up.
    with page.expect_response(f"**/notifications/read/ticket/{watched}/") as answer:
        socket.event(
            "automation.notification",
            {"ticket_id": watched, "user_ids": [agent_id], "message": "About this one"},
        )
    assert answer.value.status == 200
    expect(count).to_be_hidden()
    expect(toasts).to_have_count(0)

    # About another ticket: the bell and a pop-up, as anywhere else.
    socket.event(
        "automation.notification",
        {"ticket_id": elsewhere, "user_ids": [agent_id], "message": "About another"},
    )
    expect(count).to_have_text("1")
    expect(toasts).to_have_text(["About another×"])
    assert_clean(watch)
