"""The search API, and the encoders behind the semantic index."""

from __future__ import annotations

import numpy as np
import pytest
from django.test import Client

from concierge.search.encoders import get_encoder
from concierge.tickets import actions as ticket_actions
from tests.api.helpers import api_client
from tests.factories import make_agent, make_customer_user

pytestmark = pytest.mark.django_db


def test_api_search_returns_only_the_callers_tickets(django_capture_on_commit_callbacks):
    cora = make_customer_user(name="Cora", email="cora@customers.test")
    dan = make_customer_user(name="Dan", email="dan@customers.test")
    with django_capture_on_commit_callbacks(execute=True):
        mine = ticket_actions.create_ticket(
            actor=cora, requester=cora.customer, subject="Refund for my order", body="Please."
        )
        ticket_actions.create_ticket(
            actor=dan, requester=dan.customer, subject="Refund for my order too", body="Please."
        )

    response = api_client(cora).get("/api/v1/search", {"q": "refund", "mode": "lexical"})

    assert response.status_code == 200
    items = response.json()["items"]
    assert [(item["kind"], item["object_id"]) for item in items] == [("ticket", mine.pk)]
    assert items[0]["title_html"] == "<mark>Refund</mark> for my order"


def test_api_search_explains_bad_input_and_needs_sign_in():
    agent = make_agent()
    client = api_client(agent)
    response = client.get("/api/v1/search", {"q": "x", "kinds": "ticket,invoice"})
    assert response.status_code == 422
    assert "invoice" in response.json()["message"]
    assert client.get("/api/v1/search", {"q": "x", "mode": "fuzzy"}).status_code == 422
    assert Client().get("/api/v1/search", {"q": "x"}).status_code == 401


def test_default_encoder_gives_unit_vectors_that_rank_paraphrases_close():
    encoder = get_encoder("default")
    vectors = encoder.encode(["I forgot my password", "How do I reset my password?", "Pizza"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    assert get_encoder("default") is encoder  # loaded once per process


# The static encoder's test builds its own small matrix: test_static_encoder.py.
