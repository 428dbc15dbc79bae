"""Triage API, the ticket page's panel with one-click correction, filtering by prediction."""

from __future__ import annotations

import pytest
from django.urls import reverse

from concierge.ai import actions
from concierge.ai.models import Category, Prediction, PredictionKind
from concierge.tickets.services import TicketFilters, list_tickets
from tests.api.helpers import api_client
from tests.conftest import signed_in_client
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


def _predict(ticket, **labels: str) -> dict[str, Prediction]:  # type: ignore[no-untyped-def]
    rows = {}
    for kind, label in labels.items():
        rows[kind] = Prediction.objects.create(
            ticket=ticket, kind=kind, label=label, confidence=0.8, model_version="test",
            reasons=["because"], text=ticket.subject,
        )  # fmt: skip
    return rows


def test_api_lists_predictions_for_staff_only(agent_user, customer_user) -> None:
    ticket = TicketFactory(requester=customer_user.customer)
    _predict(ticket, sentiment="negative", intent="billing")

    response = api_client(agent_user).get(f"/api/v1/triage/tickets/{ticket.pk}/predictions")
    assert response.status_code == 200
    kinds = {row["kind"]: row for row in response.json()}
    assert kinds["sentiment"]["label"] == "negative"
    assert kinds["intent"]["model_version"] == "test"
    assert kinds["intent"]["reasons"] == ["because"]

    denied = api_client(customer_user).get(f"/api/v1/triage/tickets/{ticket.pk}/predictions")
    assert denied.status_code == 403


def test_api_correction_is_stored_as_label(agent_user) -> None:
    Category.objects.create(name="billing")
    Category.objects.create(name="shipping")
    ticket = TicketFactory()
    intent = _predict(ticket, intent="shipping")["intent"]

    response = api_client(agent_user).post(
        f"/api/v1/triage/predictions/{intent.pk}/correction",
        {"label": "billing"},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["effective_label"] == "billing"
    intent.refresh_from_db()
    assert intent.corrected_label == "billing"
    assert intent.corrected_by == agent_user


def test_api_rejects_unknown_label_and_changes_nothing(agent_user) -> None:
    ticket = TicketFactory()
    sentiment = _predict(ticket, sentiment="neutral")["sentiment"]
    response = api_client(agent_user).post(
        f"/api/v1/triage/predictions/{sentiment.pk}/correction",
        {"label": "furious"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "label" in response.json()["field_errors"]
    sentiment.refresh_from_db()
    assert sentiment.corrected_label == ""


def test_api_admin_manages_categories(admin_user, agent_user) -> None:
    created = api_client(admin_user).post(
        "/api/v1/triage/categories",
        {"name": "billing", "description": "Money", "examples": ["refund please", "charged twice"]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["examples"] == ["refund please", "charged twice"]
    refused = api_client(agent_user).post(
        "/api/v1/triage/categories", {"name": "shipping"}, content_type="application/json"
    )
    assert refused.status_code == 403
    assert list(Category.objects.values_list("name", flat=True)) == ["billing"]


def test_ticket_page_shows_predictions_with_one_click_correction(agent_user) -> None:
    ticket = TicketFactory()
    sentiment = _predict(ticket, sentiment="neutral", language="en")["sentiment"]
    client = signed_in_client(agent_user)

    page = client.get(reverse("workspace:ticket", args=[ticket.pk]))
    html = page.content.decode()
    assert 'id="triage-panel"' in html
    assert 'data-label="neutral"' in html
    correct_url = reverse("workspace:ticket_triage_correct", args=[ticket.pk, sentiment.pk])
    assert correct_url in html

    response = client.post(correct_url, {"label": "negative"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert 'data-label="negative"' in response.content.decode()
    assert "Correction saved; it will train the next model." in response.content.decode()
    sentiment.refresh_from_db()
    assert sentiment.corrected_label == "negative"


def test_out_of_scope_reads_none_of_these_on_the_panel_and_in_the_filters(agent_user) -> None:
    Category.objects.create(name="billing")
    ticket = TicketFactory()
    _predict(ticket, intent="out_of_scope")
    client = signed_in_client(agent_user)

    html = client.get(reverse("workspace:ticket", args=[ticket.pk])).content.decode()
    assert 'data-label="out_of_scope">none of these</span>' in html
    assert 'value="billing" class="button button--small">billing</button>' in html

    inbox = client.get("/inbox/all-open/").content.decode()
    assert '<option value="out_of_scope">none of these</option>' in inbox


def test_light_agent_sees_panel_without_correction_buttons(light_agent_user) -> None:
    ticket = TicketFactory()
    _predict(ticket, sentiment="neutral")
    html = (
        signed_in_client(light_agent_user)
        .get(reverse("workspace:ticket", args=[ticket.pk]))
        .content.decode()
    )
    assert 'id="triage-panel"' in html
    assert "triage-correct" not in html


def test_filter_tickets_by_effective_prediction(agent_user) -> None:
    angry = TicketFactory(subject="angry")
    calm = TicketFactory(subject="calm")
    corrected = TicketFactory(subject="corrected")
    _predict(angry, sentiment="negative")
    _predict(calm, sentiment="positive")
    wrong = _predict(corrected, sentiment="positive")["sentiment"]
    actions.correct_prediction(actor=agent_user, prediction=wrong, label="negative")

    filters = TicketFilters.from_dict({"predictions": {"sentiment": "negative"}})
    found = list_tickets(user=agent_user, filters=filters).tickets

    assert {t.subject for t in found} == {"angry", "corrected"}


def test_inbox_filter_bar_filters_by_prediction(agent_user) -> None:
    billing = TicketFactory(subject="billing question")
    TicketFactory(subject="other question")
    Category.objects.create(name="billing")
    _predict(billing, intent="billing")
    response = signed_in_client(agent_user).get(
        "/inbox/all-open/", {"filtered": "1", "prediction_intent": "billing"}
    )
    html = response.content.decode()
    assert "billing question" in html
    assert "other question" not in html


def test_admin_edits_categories_in_settings(admin_user) -> None:
    client = signed_in_client(admin_user)
    response = client.post(
        reverse("workspace:settings_triage_new"),
        {"name": "billing", "description": "Money", "examples": "refund\ncharged twice",
         "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    category = Category.objects.get(name="billing")
    assert category.example_list == ["refund", "charged twice"]
    page = client.get(reverse("workspace:settings_triage")).content.decode()
    assert "billing" in page
    assert PredictionKind.INTENT  # the settings page lists models of every kind


def test_admin_tries_a_message_in_settings_and_nothing_is_stored(admin_user, categories) -> None:
    client = signed_in_client(admin_user)
    url = reverse("workspace:settings_triage_try")

    response = client.post(url, {"text": "I was charged twice <b>again</b>, refund me now!"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "data-triage-tried" in page
    for kind in ("intent", "sentiment", "urgency", "language", "abuse", "spam"):
        assert f'data-kind="{kind}"' in page
    assert 'data-label="billing"' in page  # the few-shot categories of the fixture
    # The message stays in the box, escaped.
    assert "&lt;b&gt;again&lt;/b&gt;" in page and "<b>again</b>" not in page
    assert not Prediction.objects.exists()


def test_trying_a_message_refuses_empty_and_over_long_text_and_non_admins(
    admin_user, agent_user, categories
) -> None:
    url = reverse("workspace:settings_triage_try")
    admin = signed_in_client(admin_user)

    empty = admin.post(url, {"text": "   "})
    assert empty.status_code == 400
    assert "Type a customer&#x27;s message to try." in empty.content.decode()

    too_long = admin.post(url, {"text": "refund " * 400})
    assert too_long.status_code == 400
    assert "At most 2,000 characters" in too_long.content.decode()
    assert "data-triage-tried" not in too_long.content.decode()

    assert signed_in_client(agent_user).post(url, {"text": "refund"}).status_code == 403


def test_api_tries_a_message_for_admins_only(admin_user, agent_user, categories) -> None:
    response = api_client(admin_user).post(
        "/api/v1/triage/try", {"text": "where is my package?"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    by_kind = {row["kind"]: row for row in response.json()}
    assert set(by_kind) == {"intent", "sentiment", "urgency", "language", "abuse", "spam"}
    assert by_kind["intent"]["label"] == "shipping"
    assert 0 <= by_kind["intent"]["confidence"] <= 1 and by_kind["intent"]["model_version"]

    over = api_client(admin_user).post(
        "/api/v1/triage/try", {"text": "x" * 2001}, content_type="application/json"
    )
    assert over.status_code == 413
    assert over.json()["code"] == "limit_exceeded" and "2,000" in over.json()["message"]
    refused = api_client(agent_user).post(
        "/api/v1/triage/try", {"text": "refund"}, content_type="application/json"
    )
    assert refused.status_code == 403
    assert not Prediction.objects.exists()
