"""Browser tests: Playwright driving Debian's Chromium against a live test server.

The server is pytest-django's ``live_server`` (a real HTTP server on a free
loopback port, serving static files). Every page records browser console
errors, JavaScript dialogs and Content-Security-Policy violations, so a test
can assert that none happened.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM = os.environ.get("CONCIERGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

# The live server runs Django's threaded WSGI server in this process while
# Playwright's sync API runs an event loop; Django must allow ORM calls here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@dataclass
class PageWatch:
    """What the browser reported while a test ran."""

    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


# Package scope, not session: Playwright's sync API keeps an event loop running
# in the main thread while the browser is open, and tests after tests/e2e that
# call async_to_sync (the realtime socket tests) fail when that loop is still there.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium not found at {CHROMIUM}; ./concierge test installs it.")
        pytest.skip(f"Chromium not found at {CHROMIUM}; run ./concierge test to install it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def new_page(browser: Any, live_server: Any, watch: PageWatch) -> Iterator[Any]:
    """A factory of pages, each in its own browser context (its own cookies)."""
    contexts = []

    def make() -> Any:
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)

        def on_console(message: Any) -> None:
            text = message.text
            if "Content Security Policy" in text or "Content-Security-Policy" in text:
                watch.csp_violations.append(text)
            elif message.type == "error":
                url = (message.location or {}).get("url", "")
                watch.console_errors.append(f"{text} ({url})" if url else text)

        def on_dialog(dialog: Any) -> None:
            watch.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("console", on_console)
        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


def assert_clean(watch: PageWatch) -> None:
    """Nothing went wrong in the browser: no console error, dialog, CSP violation or JS error."""
    assert watch.csp_violations == []
    assert watch.console_errors == []
    assert watch.page_errors == []
    assert watch.dialogs == []


@pytest.fixture
def page(new_page: Any) -> Any:
    return new_page()


def sign_in_agent(page: Any, email: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox/**")


def sign_in_customer(page: Any, email: str, password: str) -> None:
    page.goto("/portal/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/portal/requests/")
