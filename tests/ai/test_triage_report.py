"""The triage report: what new requests were about and how often agents kept the category."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from concierge.ai import actions, services
from concierge.ai.models import LABELLED_HISTORY, Category, Prediction
from concierge.core.errors import PermissionDenied, ValidationFailed
from concierge.tickets.models import Ticket
from tests.api.helpers import api_client
from tests.conftest import signed_in_client
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


def _ticket(days_ago: float) -> Ticket:
    ticket = TicketFactory()
    Ticket.objects.filter(pk=ticket.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return Ticket.objects.get(pk=ticket.pk)


def _predict(ticket: Ticket, kind: str, label: str, **fields: Any) -> Prediction:
    fields.setdefault("confidence", 0.8)
    fields.setdefault("model_version", "test-model")
    return Prediction.objects.create(
        ticket=ticket, kind=kind, label=label, text=ticket.subject, **fields
    )


@pytest.fixture
def desk(agent_user: Any) -> dict[str, Any]:
    """Six requests this month (one with a label from history), one the month before, one
    long ago."""
    for name in ("billing", "shipping"):
        Category.objects.create(name=name)
    billing_1, billing_2, shipping, unsure, moved = (_ticket(days) for days in (1, 2, 3, 4, 5))
    earlier_billing = _ticket(40)  # the period before (days 30-60)
    _ticket(100)  # neither period
    for ticket in (billing_1, billing_2):
        _predict(ticket, "intent", "billing", confidence=0.9)
        _predict(ticket, "sentiment", "negative")
        _predict(ticket, "language", "en")
    _predict(billing_1, "urgency", "high")
    # A later message's prediction wins: this request ends up about shipping.
    _predict(shipping, "intent", "billing", confidence=0.5)
    _predict(shipping, "intent", "shipping", confidence=0.7)
    _predict(shipping, "sentiment", "positive")
    _predict(shipping, "language", "fr")
    _predict(unsure, "intent", "out_of_scope", confidence=0.3)
    _predict(earlier_billing, "intent", "billing")
    # An agent moved one from billing to shipping, and confirmed one billing.
    wrong = _predict(moved, "intent", "billing", confidence=0.6)
    actions.correct_prediction(actor=agent_user, prediction=wrong, label="shipping")
    kept = Prediction.objects.get(ticket=billing_1, kind="intent")
    actions.correct_prediction(actor=agent_user, prediction=kept, label="billing")
    # A label brought with history is not a review of the model.
    history = _ticket(6)
    _predict(
        history, "intent", "billing", model_version=LABELLED_HISTORY, confidence=1.0,
        corrected_label="billing", corrected_at=timezone.now(),
    )  # fmt: skip
    return {"billing_1": billing_1, "shipping": shipping}


def test_report_counts_each_request_once_by_its_latest_label(admin_user: Any, desk: Any) -> None:
    report = services.triage_report(user=admin_user, days=30)

    by_label = {item.label: item for item in report.categories}
    assert report.tickets == 6  # created in the last 30 days, with or without predictions
    # billing: two requests + the history label; shipping: the later message + the moved one.
    assert {label: item.tickets for label, item in by_label.items()} == {
        "billing": 3, "shipping": 2, "out_of_scope": 1,
    }  # fmt: skip
    assert report.triaged == 6
    assert by_label["billing"].share == pytest.approx(3 / 6)
    assert by_label["billing"].previous_tickets == 1
    assert by_label["shipping"].mean_confidence == pytest.approx((0.7 + 0.6) / 2)
    assert report.out_of_scope is not None and report.out_of_scope.display == "none of these"
    assert [item.label for item in report.categories] == ["billing", "shipping", "out_of_scope"]


def test_report_says_how_often_agents_kept_the_predicted_category(
    admin_user: Any, desk: Any
) -> None:
    report = services.triage_report(user=admin_user, days=30)

    assert (report.reviewed, report.agreed) == (2, 1)
    assert report.agreement == pytest.approx(0.5)
    reviews = {item.label: item for item in report.reviews}
    assert (reviews["billing"].reviewed, reviews["billing"].kept) == (2, 1)
    assert (reviews["shipping"].reviewed, reviews["shipping"].moved_in) == (0, 1)
    assert reviews["shipping"].kept_share is None
    assert [(c.predicted, c.corrected, c.count) for c in report.confusions] == [
        ("billing", "shipping", 1)
    ]


def test_report_splits_sentiment_per_day_and_counts_languages(admin_user: Any, desk: Any) -> None:
    report = services.triage_report(user=admin_user, days=30)

    assert sum(day.negative for day in report.sentiment_by_day) == 2
    assert sum(day.positive for day in report.sentiment_by_day) == 1
    assert len(report.sentiment_by_day) == 3  # three days with a sentiment prediction
    assert [(item.label, item.tickets) for item in report.languages] == [("en", 2), ("fr", 1)]
    assert [(item.label, item.tickets) for item in report.urgency] == [("high", 1)]


def test_a_shorter_period_leaves_older_requests_out(admin_user: Any, desk: Any) -> None:
    report = services.triage_report(user=admin_user, days=2)

    assert report.tickets == 1  # created 1 day ago; 2 days ago sits on the edge
    assert {item.label: item.tickets for item in report.categories} == {"billing": 1}


def test_report_is_for_admins_and_refuses_a_period_over_its_limit(
    admin_user: Any, agent_user: Any
) -> None:
    with pytest.raises(PermissionDenied):
        services.triage_report(user=agent_user)
    with pytest.raises(ValidationFailed, match="1 to 365 days"):
        services.triage_report(user=admin_user, days=366)
    with pytest.raises(ValidationFailed):
        services.triage_report(user=admin_user, days=0)


def test_report_page_shows_the_figures_escaped_and_links_to_the_inbox(
    admin_user: Any, agent_user: Any, desk: Any
) -> None:
    _predict(_ticket(1), "intent", "<b>odd</b>")  # a label from an old category name

    page = signed_in_client(admin_user).get("/settings/triage/report/?days=7")
    text = page.content.decode()

    assert page.status_code == 200
    assert "AI triage report" in text and "Last 7 days" in text
    assert "none of these" in text and "billing → shipping" in text
    assert "&lt;b&gt;odd&lt;/b&gt;" in text and "<b>odd</b>" not in text
    assert "/inbox/all-open/?filtered=1&amp;prediction_intent=shipping" in text
    assert signed_in_client(agent_user).get("/settings/triage/report/").status_code == 403
    # An unknown period falls back to the default month.
    assert (
        "last 30 days"
        in signed_in_client(admin_user).get("/settings/triage/report/?days=abc").content.decode()
    )


def test_api_report_for_admins_with_the_limit_named(admin_user: Any, agent_user: Any, desk: Any):
    response = api_client(admin_user).get("/api/v1/triage/report?days=30")
    over = api_client(admin_user).get("/api/v1/triage/report?days=400")
    refused = api_client(agent_user).get("/api/v1/triage/report")

    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["tickets"], data["reviewed"], data["agreed"]) == (6, 2, 1)
    assert data["categories"][0] == {
        "label": "billing", "tickets": 3, "share": 0.5, "previous_tickets": 1,
        "mean_confidence": pytest.approx((0.9 + 0.9 + 1.0) / 3),
    }  # fmt: skip
    assert data["confusions"] == [{"predicted": "billing", "corrected": "shipping", "count": 1}]
    assert over.status_code == 422 and "365" in over.json()["message"]
    assert refused.status_code == 403
