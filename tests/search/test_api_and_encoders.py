"""The search API, and the encoders behind the semantic index."""

from __future__ import annotations

import os
import threading

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


class _MeetingEncoder:
    """A part that answers only once every part of the question is running at once."""

    def __init__(self, name: str, barrier: threading.Barrier, value: float) -> None:
        self.name, self.dim, self._barrier, self._value = name, 2, barrier, value

    def encode(self, texts):  # type: ignore[no-untyped-def]
        return np.full((len(texts), 2), self._value, np.float32)

    def encode_queries(self, texts):  # type: ignore[no-untyped-def]
        self._barrier.wait(timeout=5)  # BrokenBarrierError unless the others run too
        return self.encode(texts)


def test_a_questions_encoders_run_side_by_side_and_agree_with_a_batch(settings) -> None:
    from concierge.search.encoders import FusedEncoder

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: a question's encoders run in turn")
    settings.SEARCH_PARALLEL_QUERY_PARTS = True
    barrier = threading.Barrier(2)
    fused = FusedEncoder(
        "a+b",
        [(_MeetingEncoder("a", barrier, 1.0), 0.6), (_MeetingEncoder("b", barrier, 2.0), 0.4)],
    )

    question = fused.encode_queries(["where is my parcel"])
    documents = fused.encode(["where is my parcel"])

    np.testing.assert_allclose(question, documents, rtol=1e-6)
    # With a share for one part only, that part runs alone (nothing to wait for).
    alone = FusedEncoder("a+b", [(_MeetingEncoder("a", threading.Barrier(1), 1.0), 0.6),
                                 (_MeetingEncoder("b", barrier, 2.0), 0.4)])  # fmt: skip
    assert alone.encode_queries(["x"], shares=[1.0, 0.0])[0, 2:].tolist() == [0.0, 0.0]


def test_parallel_question_encoding_can_be_turned_off(settings) -> None:
    from concierge.search.encoders import _query_pool

    settings.SEARCH_PARALLEL_QUERY_PARTS = False
    assert _query_pool() is None


def test_an_encoder_built_apart_has_its_own_models_and_the_same_vectors() -> None:
    """build_encoder: a fresh instance with its own thread setting, outside the shared cache."""
    from concierge.search.encoders import FusedEncoder, build_encoder

    shared = get_encoder("minilm+e5")
    apart = build_encoder("minilm+e5", threads=1)

    assert isinstance(apart, FusedEncoder) and apart is not shared
    assert get_encoder("minilm+e5") is shared  # the cache is left as it was
    assert not {id(part) for part in apart._parts} & {id(part) for part in shared._parts}  # type: ignore[attr-defined]
    texts = ["where is my parcel", "I was charged twice"]
    np.testing.assert_allclose(apart.encode_queries(texts), shared.encode_queries(texts), atol=1e-5)
    with pytest.raises(ValueError, match="Unknown encoder 'nope'"):
        build_encoder("nope", threads=1)
