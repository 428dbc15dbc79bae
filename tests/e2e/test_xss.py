"""Cross-site-scripting payloads typed into every input, then rendered in Chromium.

The payloads come from ``../shared/data/security/xss/payloads.jsonl`` (DOMPurify's
fixtures and OWASP's filter-evasion cheat sheet). Every one of them is stored
(through ``tickets.actions``, the code every interface calls) as a conversation
entry and as a ticket subject, then shown in the places people read them: the
agent's ticket page, the customer's request page, the inbox and the portal's
request list. A representative subset also goes in through the real doors:
the portal form, the REST API and the agent composer.

On every page nothing may run: no dialog opens, ``alert``/``confirm``/``prompt``
are never called, no script error, no Content-Security-Policy violation, and
the DOM holds no script of ours it should not, no ``on*`` handler, no
``javascript:`` link and no embedding element inside the conversation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from concierge.accounts import actions as account_actions
from concierge.tickets import actions as ticket_actions
from concierge.tickets.actions import SUBJECT_MAX_CHARS
from concierge.tickets.models import Channel, Entry, EntryKind, Ticket
from tests.e2e.conftest import PageWatch, assert_clean, sign_in_agent, sign_in_customer

ENTRIES_PER_TICKET = 40  # a ticket page shows the whole conversation: keep each page small

# Runs before any script of the page: dialogs called by injected markup land in
# window.__xss_calls (and never block), CSP reports in window.__csp_violations.
RECORD_SCRIPT = """
(() => {
  window.__xss_calls = [];
  window.__csp_violations = [];
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    window[name] = function (message) {
      window.__xss_calls.push(name + ": " + String(message));
      return name === "confirm" ? false : null;
    };
  }
  document.addEventListener("securitypolicyviolation", (event) => {
    window.__csp_violations.push(event.violatedDirective + " " + event.blockedURI);
  });
})();
"""

# Everything in the DOM that could run script, as a list of findings (empty is good).
DOM_CHECK = """
([contentSelector, textOnlySelector]) => {
  const findings = [];
  const describe = (el) => el.outerHTML.slice(0, 160);
  const staticPrefix = location.origin + "/static/";
  for (const script of document.querySelectorAll("script")) {
    const src = script.getAttribute("src");
    if (!src || !new URL(src, location.href).href.startsWith(staticPrefix)) {
      findings.push("script not from our static files: " + describe(script));
    }
  }
  const urlAttributes = ["href", "src", "action", "formaction", "xlink:href", "data", "poster",
                         "background", "srcdoc", "srcset"];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) {
        findings.push("event handler attribute " + name + ": " + describe(el));
      }
      if (urlAttributes.includes(name)) {
        const value = attr.value.replace(/[\\u0000-\\u0020\\u007f-\\u00a0\\u2028\\u2029]/g, "")
          .toLowerCase();
        if (/^(javascript|vbscript|livescript):/.test(value) || value.startsWith("data:text/html")
            || name === "srcdoc") {
          findings.push("script URL in " + name + ": " + describe(el));
        }
      }
    }
  }
  const embedding = "iframe, frame, frameset, object, embed, applet, base";
  for (const el of document.querySelectorAll(embedding)) {
    findings.push("embedding element: " + describe(el));
  }
  const forbidden = "iframe, object, embed, base, form, input, button, textarea, select, script, "
    + "style, link, meta, svg, math, template, frame, frameset, applet, video, audio, noscript";
  for (const area of document.querySelectorAll(contentSelector)) {
    for (const el of area.querySelectorAll(forbidden)) {
      findings.push("forbidden element in user content: " + describe(el));
    }
    for (const el of area.querySelectorAll("[style], [id], [class], [name]")) {
      findings.push("attribute a user must not set: " + describe(el));
    }
  }
  for (const el of document.querySelectorAll(textOnlySelector)) {
    findings.push("markup in a plain-text field: " + describe(el));
  }
  return findings;
}
"""

# Where sanitized user HTML is shown, and (second) elements that must not exist
# because a subject is plain text: any element inside one came from a payload.
WORKSPACE_CONTENT = (
    "#timeline .entry-body",
    ".ticket-title h1 > :not(.ticket-number), .ticket-title h1 .ticket-number *, "
    "[data-ticket-list] [data-ticket-link] *, title *",
)
PORTAL_CONTENT = (
    ".conversation .message__body",
    ".page-heading h1 *, .request-row__subject *, title *",
)


@pytest.fixture
def payloads(shared_data: Path) -> list[str]:
    path = shared_data / "security" / "xss" / "payloads.jsonl"
    with path.open(encoding="utf-8") as lines:
        found = [json.loads(line)["payload"] for line in lines if line.strip()]
    assert len(found) > 100, f"expected the whole payload set in {path}"
    return found


@pytest.fixture
def recording_page(new_page: Callable[[], Any]) -> Callable[[], Any]:
    """Pages whose dialogs and CSP reports are recorded by the page itself, too."""

    def make() -> Any:
        page = new_page()
        page.context.add_init_script(RECORD_SCRIPT)
        return page

    return make


def _subject(payload: str) -> str:
    """What the subject field keeps of a payload: one line, at most the subject limit."""
    return " ".join(payload.split())[:SUBJECT_MAX_CHARS] or "(blank payload)"


def _representative(payloads: list[str], count: int) -> list[str]:
    """A spread of the nastiest kinds of payload, for the slow paths through real forms."""
    markers = ["<script", "onerror", "javascript:", "<svg", "<iframe", "data:text/html", "<a ",
               "onload", "<math", "<form", "<img", "<style", "expression(", "<object",
               "`"]  # fmt: skip
    chosen: list[str] = []
    for marker in markers:
        match = next((p for p in payloads if marker in p.lower() and p not in chosen), None)
        if match is not None:
            chosen.append(match)
    for payload in payloads:  # top up with the first others if a marker found nothing
        if len(chosen) >= count:
            break
        if payload not in chosen:
            chosen.append(payload)
    return chosen[:count]


def _assert_inert(page: Any, watch: PageWatch, selectors: tuple[str, str]) -> None:
    findings = page.evaluate(DOM_CHECK, list(selectors))
    assert findings == [], f"{page.url}: " + "\n".join(findings)
    assert page.evaluate("() => window.__xss_calls") == [], page.url
    assert page.evaluate("() => window.__csp_violations") == [], page.url
    assert_clean(watch)


def _pages_of_list(page: Any, start: str) -> Iterator[None]:
    """Visits a paginated list from ``start``, following its rel=next link to the end."""
    page.goto(start)
    while True:
        yield
        following = page.locator('a[rel="next"]')
        if following.count() == 0:
            return
        following.first.click()
        page.wait_for_load_state()


def _assert_workspace_ticket_inert(page: Any, watch: PageWatch, ticket: Ticket) -> None:
    page.goto(f"/tickets/{ticket.pk}/")
    expect(page.locator("#timeline .entry")).to_have_count(ticket.entries.count())
    _assert_inert(page, watch, WORKSPACE_CONTENT)


def _assert_portal_request_inert(page: Any, watch: PageWatch, ticket: Ticket) -> None:
    page.goto(f"/portal/requests/{ticket.pk}/")
    public = ticket.entries.filter(kind=EntryKind.PUBLIC_REPLY).count()
    expect(page.locator(".conversation .message")).to_have_count(public)
    _assert_inert(page, watch, PORTAL_CONTENT)


def test_every_xss_payload_renders_inert_on_ticket_pages_and_in_lists(
    recording_page: Callable[[], Any],
    watch: PageWatch,
    payloads: list[str],
    agent_user: Any,
    customer_user: Any,
    password: str,
) -> None:
    customer = customer_user.customer
    # Each payload as a message: customers and agents take turns, all public so
    # that the portal shows every one too.
    conversations: list[Ticket] = []
    for start in range(0, len(payloads), ENTRIES_PER_TICKET):
        batch = payloads[start : start + ENTRIES_PER_TICKET]
        ticket = ticket_actions.create_ticket(
            actor=customer_user, requester=customer, subject=_subject(batch[0]), body=batch[0]
        )
        for index, payload in enumerate(batch[1:]):
            author = agent_user if index % 2 == 0 else customer_user
            ticket_actions.add_entry(actor=author, ticket=ticket, body=payload)
        conversations.append(ticket)
    # Each payload as a subject, for the lists.
    listed = [
        ticket_actions.create_ticket(
            actor=customer_user, requester=customer, subject=_subject(payload), body="Hello."
        )
        for payload in payloads
    ]
    stored = Entry.objects.filter(ticket__in=conversations).exclude(kind=EntryKind.SYSTEM_EVENT)
    assert sorted(stored.values_list("body_source", flat=True)) == sorted(payloads)

    agent_page = recording_page()
    sign_in_agent(agent_page, agent_user.email, password)
    for ticket in conversations:
        _assert_workspace_ticket_inert(agent_page, watch, ticket)
    seen: set[str] = set()
    for _ in _pages_of_list(agent_page, "/inbox/all-open/"):
        rows = agent_page.locator("[data-ticket-list] [data-ticket-row]")
        seen.update(rows.evaluate_all("rows => rows.map(row => row.dataset.ticketId)"))
        _assert_inert(agent_page, watch, WORKSPACE_CONTENT)
    assert {str(ticket.pk) for ticket in listed + conversations} <= seen

    customer_page = recording_page()
    sign_in_customer(customer_page, customer_user.email, password)
    for ticket in conversations:
        _assert_portal_request_inert(customer_page, watch, ticket)
    seen_in_portal: set[str] = set()
    for _ in _pages_of_list(customer_page, "/portal/requests/"):
        links = customer_page.locator(".request-row__link")
        seen_in_portal.update(
            links.evaluate_all("links => links.map(link => link.getAttribute('href'))")
        )
        _assert_inert(customer_page, watch, PORTAL_CONTENT)
    assert {f"/portal/requests/{ticket.pk}/" for ticket in listed} <= seen_in_portal


def test_xss_payloads_typed_into_the_portal_api_and_composer_render_inert(
    recording_page: Callable[[], Any],
    watch: PageWatch,
    payloads: list[str],
    agent_user: Any,
    customer_user: Any,
    password: str,
) -> None:
    chosen = _representative(payloads, 13)
    created: list[Ticket] = []

    # (a) The portal's new-request form: subject and description.
    customer_page = recording_page()
    sign_in_customer(customer_page, customer_user.email, password)
    for payload in chosen[:4]:
        customer_page.goto("/portal/requests/new/")
        customer_page.get_by_label("Subject").fill(_subject(payload))
        customer_page.get_by_label("Description").fill(payload)
        customer_page.get_by_role("button", name="Send request").click()
        customer_page.wait_for_url(re.compile(r"/portal/requests/\d+/$"))
        ticket_id = int(customer_page.url.rstrip("/").rpartition("/")[2])
        created.append(Ticket.objects.get(pk=ticket_id))
    assert [ticket.entries.get().body_source for ticket in created] == [
        payload.replace("\r\n", "\n") for payload in chosen[:4]
    ]

    # (b) The REST API with a personal token: a ticket's subject and body, then entries.
    _, secret = account_actions.create_api_token(actor=agent_user, name="xss test")
    api = recording_page().request
    headers = {"Authorization": f"Bearer {secret}"}
    for payload in chosen[4:7]:
        response = api.post(
            "/api/v1/tickets",
            headers=headers,
            data={
                "subject": _subject(payload),
                "body": payload,
                "requester": {"email": customer_user.email},
            },
        )
        assert response.status == 201, response.text()
        created.append(Ticket.objects.get(pk=response.json()["id"]))
    assert {ticket.channel for ticket in created[4:]} == {Channel.API}
    api_ticket = created[4]
    for index, payload in enumerate(chosen[7:10]):
        kind = "note" if index % 2 else "reply"
        response = api.post(
            f"/api/v1/tickets/{api_ticket.pk}/entries",
            headers=headers,
            data={"kind": kind, "body": payload},
        )
        assert response.status == 201, response.text()

    # (c) The agent composer: public replies and internal notes.
    agent_page = recording_page()
    sign_in_agent(agent_page, agent_user.email, password)
    composer_ticket = created[0]
    for index, payload in enumerate(chosen[10:]):
        agent_page.goto(f"/tickets/{composer_ticket.pk}/")
        kind = "Internal note" if index % 2 else "Public reply"
        agent_page.locator("#composer label.composer-tab", has_text=kind).click()
        expect(agent_page.locator("#composer").get_by_label(kind)).to_be_checked()
        agent_page.locator("#composer").get_by_label("Message").fill(payload)
        agent_page.locator("#composer button[type=submit]").click()
        agent_page.wait_for_url(re.compile(rf"/tickets/{composer_ticket.pk}/#entry-\d+$"))
    stored = set(Entry.objects.values_list("body_source", flat=True))
    assert {payload.replace("\r\n", "\n") for payload in chosen} <= stored
    assert Entry.objects.filter(ticket=composer_ticket, kind=EntryKind.INTERNAL_NOTE).exists()

    # Rendered where agents and customers read them.
    for ticket in created:
        _assert_workspace_ticket_inert(agent_page, watch, ticket)
        _assert_portal_request_inert(customer_page, watch, ticket)
    for view in ("all-open", "my-open"):
        agent_page.goto(f"/inbox/{view}/")
        _assert_inert(agent_page, watch, WORKSPACE_CONTENT)
    customer_page.goto("/portal/requests/")
    _assert_inert(customer_page, watch, PORTAL_CONTENT)
