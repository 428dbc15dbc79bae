"""A visitor chats with an agent in Chromium: the widget on another site, the agent in the
workspace.

The Concierge server here is the real ASGI application (HTTP and WebSockets)
served by uvicorn in a thread of the test process, on the test database; the
host page is a plain HTML page on a second loopback server under another
name (``localhost`` vs ``127.0.0.1``), so the widget really runs cross-origin:
CORS, the channel's allowed origins and the socket's Origin check all apply.

One story, in order: the agent watches the inbox; the visitor opens the
widget and writes (the chat appears in the inbox live); typing shows both
ways; the agent answers from the ticket page; the visitor sends a file; the
server goes down and comes back (the visitor's connection is cut) and a reply
written meanwhile still reaches the widget.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import uvicorn
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from concierge.accounts.models import Availability
from concierge.automation.actions import save_rule
from concierge.chat.models import ChatChannel, ChatConversation
from concierge.core.models import AgentPresence
from concierge.knowledge.models import EventKind, HelpEvent, HelpSession
from concierge.tickets import actions as ticket_actions
from concierge.tickets.models import Attachment, Channel, Ticket
from tests.e2e.conftest import PageWatch, assert_clean, sign_in_agent
from tests.factories import CustomerFactory, TeamFactory, make_agent
from tests.knowledge.helpers import make_article, make_structure

pytestmark = pytest.mark.django_db(transaction=True)

HOST_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Acme shop</title>
<style>* {{ color: red !important; font-size: 30px; }} button {{ background: yellow; }}</style>
</head><body><h1>Acme shop</h1><p>Our products.</p>
<script src="{server}/static/concierge/widget.js" data-concierge-key="{key}" async></script>
</body></html>"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AsgiServer:
    """uvicorn serving concierge.asgi in a thread; ``stop()`` / ``start()`` cut every socket."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from concierge.asgi import application

        config = uvicorn.Config(
            application, host="127.0.0.1", port=self.port, log_level="warning", ws="websockets",
            lifespan="off",
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the ASGI test server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=20)


@pytest.fixture
def asgi_server(transactional_db: None, settings: Any) -> Iterator[AsgiServer]:
    server = AsgiServer()
    settings.SITE_URL = server.url
    server.start()
    yield server
    server.stop()


@pytest.fixture
def host_site(asgi_server: AsgiServer) -> Iterator[tuple[str, ChatChannel]]:
    """A customer's site on http://localhost:<port>/ embedding the widget; its chat channel."""
    port = _free_port()
    origin = f"http://localhost:{port}"
    channel = ChatChannel.objects.create(
        name="Shop chat", allowed_origins=[origin], title="Acme support"
    )
    html = HOST_PAGE.format(server=asgi_server.url, key=channel.public_key).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"{origin}/", channel
    httpd.shutdown()


def _watched_page(browser: Any, watch: PageWatch, base_url: str | None = None) -> Any:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)

    def on_console(message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            watch.csp_violations.append(text)
        elif message.type == "error" and "WebSocket" not in text and "ERR_CONNECTION" not in text:
            # Socket errors while the server is deliberately down are the point of the test.
            watch.console_errors.append(text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    return page


@pytest.mark.browser
def test_visitor_and_agent_chat_live_across_sites(
    browser: Any, asgi_server: AsgiServer, host_site: tuple[str, ChatChannel], password: str
) -> None:
    host_url, channel = host_site
    agent = make_agent(
        email="nina@concierge.test", name="Nina Agent", availability=Availability.ONLINE
    )
    watch = PageWatch()
    agent_page = _watched_page(browser, watch, base_url=asgi_server.url)
    visitor = _watched_page(browser, watch)

    # The agent watches the inbox; the visitor opens the widget on the shop's page.
    sign_in_agent(agent_page, agent.email, password)
    agent_page.goto("/inbox/all-open/")
    visitor.goto(host_url)
    launcher = visitor.get_by_role("button", name="Open chat")
    expect(launcher).to_be_visible()
    launcher.click()
    dialog = visitor.get_by_role("dialog", name="Acme support")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("status").first).to_have_text("We're online")
    message_box = dialog.get_by_label("Message", exact=True)
    expect(message_box).to_be_focused()
    message_box.fill("Hello, my tent pole snapped")
    message_box.press("Enter")
    log = dialog.get_by_role("log", name="Messages")
    expect(log).to_contain_text("Hello, my tent pole snapped")
    expect(log).to_contain_text("Sent")

    ticket = Ticket.objects.get(channel=Channel.CHAT)
    assert ChatConversation.objects.get(ticket=ticket).channel == channel
    # The new chat appears in the agent's inbox without a reload.
    link = agent_page.get_by_role("link", name=ticket.subject)
    expect(link).to_be_visible(timeout=15_000)
    link.click()
    agent_page.wait_for_url(f"**/tickets/{ticket.pk}/")

    # Typing, both ways.
    composer = agent_page.locator("#composer").get_by_label("Message")
    composer.press_sequentially("Sorry to hear", delay=20)
    expect(dialog).to_contain_text("Nina Agent is typing")
    message_box.press_sequentially("It was", delay=20)
    expect(agent_page.locator("[data-live-viewers]")).to_contain_text("is typing", timeout=10_000)
    message_box.fill("")

    # The agent answers from the normal ticket page; the visitor sees it live.
    composer.fill("Sorry to hear that! A new pole is on its way.")
    agent_page.locator("#composer").get_by_role("button", name="Send reply").click()
    expect(log).to_contain_text("A new pole is on its way.")
    expect(log).to_contain_text("Nina Agent")

    # An attachment from the visitor reaches the ticket.
    visitor.locator("#cc-file").set_input_files(
        files=[{"name": "pole.txt", "mimeType": "text/plain", "buffer": b"photo of the pole"}]
    )
    expect(log.get_by_role("link", name="pole.txt")).to_be_visible()
    assert Attachment.objects.filter(entry__ticket=ticket, filename="pole.txt").exists()

    # The visitor's connection is cut (server restart); a reply written meanwhile
    # still arrives once the widget reconnects and resumes from its last event.
    asgi_server.stop()
    ticket_actions.add_entry(actor=agent, ticket=ticket, body="Written while you were away.")
    asgi_server.start()
    expect(log).to_contain_text("Written while you were away.", timeout=30_000)

    # Keyboard: Escape closes the panel and gives focus back to the launcher.
    message_box.focus()
    visitor.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(launcher).to_be_focused()
    assert_clean(watch)


@pytest.mark.browser
def test_visitor_gets_article_suggestions_while_typing_before_the_chat_starts(
    browser: Any, host_site: tuple[str, ChatChannel], admin_user: Any
) -> None:
    host_url, _ = host_site
    olga = make_agent(email="olga@concierge.test", availability=Availability.ONLINE)
    # Her workspace is open (the heartbeat her tab's socket would record): we are online.
    AgentPresence.objects.create(user=olga, last_seen_at=timezone.now())
    _, section = make_structure(admin_user)
    public = make_article(
        admin_user, section, title="Reset your password",
        body="Open **Settings**, then choose *Reset password*.",
    )  # fmt: skip
    make_article(
        admin_user, section, title="Reset a customer password (agents)",
        body="Agents reset a customer password in the console.", visibility="internal",
    )  # fmt: skip
    watch = PageWatch()
    visitor = _watched_page(browser, watch)

    visitor.goto(host_url)
    visitor.get_by_role("button", name="Open chat").click()
    dialog = visitor.get_by_role("dialog", name="Acme support")
    message_box = dialog.get_by_label("Message", exact=True)
    message_box.press_sequentially("how do I reset my password", delay=10)

    # Suggested live, published public articles only.
    suggestions = dialog.get_by_role("navigation", name="These articles may help")
    suggestion = suggestions.get_by_role("button", name="Reset your password")
    expect(suggestion).to_be_visible()
    expect(suggestions).not_to_contain_text("agents")

    # The article opens inside the widget; Back returns to the message as typed.
    suggestion.click()
    article = dialog.get_by_role("article", name="Help article")
    expect(article.get_by_role("heading", name="Reset your password")).to_be_focused()
    expect(article).to_contain_text("then choose Reset password")
    help_link = article.get_by_role("link", name="Open in the help center")
    expect(help_link).to_have_attribute("href", re.compile(rf"/portal/help/articles/{public.pk}-"))
    expect(message_box).to_be_hidden()
    article.get_by_role("button", name="← Back to the chat").click()
    expect(article).to_be_hidden()
    expect(message_box).to_have_value("how do I reset my password")

    # Still writing: the chat starts, the suggestions go away, the visit is not self-service.
    message_box.press("Enter")
    expect(dialog.get_by_role("log", name="Messages")).to_contain_text("Sent")
    expect(suggestions).to_be_hidden()
    ticket = Ticket.objects.get(channel=Channel.CHAT)
    kinds = set(HelpEvent.objects.values_list("kind", flat=True))
    assert kinds == {EventKind.SUGGESTION_SHOWN, EventKind.SUGGESTION_CLICK, EventKind.VIEW}
    assert HelpSession.objects.get().ticket_id == ticket.pk
    assert_clean(watch)


@pytest.mark.browser
def test_a_rule_notification_reaches_the_agents_bell_live(
    browser: Any, asgi_server: AsgiServer, admin_user: Any, password: str
) -> None:
    agent = make_agent(email="nora@concierge.test", name="Nora Agent")
    billing = TeamFactory(name="Billing")
    billing.members.add(agent)
    save_rule(
        actor=admin_user, name="Tell billing", events=["ticket_created"],
        conditions={"all": []},
        actions=[{"type": "set_team", "team": billing.pk},
                 {"type": "notify", "recipients": "team", "via": "in_app",
                  "message": "A new billing request needs you."}],
    )  # fmt: skip
    watch = PageWatch()
    page = _watched_page(browser, watch, base_url=asgi_server.url)
    sign_in_agent(page, agent.email, password)
    page.goto("/inbox/all-open/")
    expect(page.locator("[data-live-status]")).to_have_text("Live")
    count = page.locator("[data-notification-count]")
    expect(count).to_be_hidden()

    def new_request() -> None:
        # Off the test's thread: Playwright's event loop runs there, and publishing an
        # event after the commit needs a thread without one (as a web request has).
        try:
            ticket_actions.create_ticket(
                actor=None, requester=CustomerFactory(), subject="Invoice", body="Wrong invoice."
            )
        finally:
            connection.close()

    worker = threading.Thread(target=new_request)
    worker.start()
    worker.join(timeout=60)

    expect(count).to_have_text("1")
    expect(page.locator("[data-notification-toast]")).to_contain_text(
        "A new billing request needs you."
    )
    page.get_by_role("link", name="Notifications").click()
    expect(page.get_by_role("button", name="A new billing request needs you.")).to_be_visible()
    assert_clean(watch)
