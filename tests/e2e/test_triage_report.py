"""The triage report in a browser: from the settings to the figures and on to the inbox."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from concierge.ai.models import Category, Prediction
from concierge.tickets.models import Status
from tests.e2e.conftest import PageWatch, assert_clean, sign_in_agent
from tests.factories import TicketFactory


def test_an_admin_reads_the_triage_report_and_opens_a_category_in_the_inbox(
    page: Any, watch: PageWatch, admin_user: Any, password: str
) -> None:
    for name in ("billing", "shipping"):
        Category.objects.create(name=name)
    labelled = {
        "Charged twice for one order": ("billing", "negative"),
        "Refund still missing": ("billing", "negative"),
        "Parcel never arrived": ("shipping", "neutral"),
    }
    for subject, (intent, sentiment) in labelled.items():
        ticket = TicketFactory(subject=subject, status=Status.OPEN)
        for kind, label in (("intent", intent), ("sentiment", sentiment)):
            Prediction.objects.create(
                ticket=ticket, kind=kind, label=label, confidence=0.8, model_version="test",
                text=subject,
            )  # fmt: skip

    sign_in_agent(page, admin_user.email, password)
    page.goto("/settings/triage/")
    page.get_by_role("link", name="Report").click()

    expect(page.get_by_role("heading", name="AI triage report")).to_be_visible()
    billing = page.locator('tr[data-label="billing"]').first
    expect(billing).to_contain_text("2")
    expect(billing).to_contain_text("67%")
    page.get_by_role("link", name="Last 7 days").click()
    expect(page.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "page")

    page.get_by_role("link", name="Open the billing requests in the inbox").click()
    rows = page.locator("table tbody")
    expect(rows).to_contain_text("Charged twice for one order")
    expect(rows).to_contain_text("Refund still missing")
    expect(rows).not_to_contain_text("Parcel never arrived")
    assert_clean(watch)
