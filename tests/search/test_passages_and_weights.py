"""Passage vectors carry their article's title; fusion weights follow the database."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection

from concierge.search import actions, ranking, vectors
from concierge.search.encoders import get_encoder
from concierge.search.models import SearchDocument
from concierge.search.services import search

pytestmark = pytest.mark.django_db


def test_each_passage_vector_embeds_the_title_with_the_passage(articles):
    articles.add(
        7,
        "Cancel a subscription",
        "Can I still use it until the end of the month?\nWill I get my money back?",
    )
    actions.index_now(kind="article", object_ids=[7])
    row = SearchDocument.objects.get(kind="article", object_id=7)
    assert row.vectors is not None
    stored = vectors.unpack(row.vectors, row.vector_count)
    encoder = get_encoder(actions.encoder_for("article"))

    # Rows: whole text, title, then one per line of the body.
    assert row.vector_count == 4
    expected = encoder.encode(
        [
            "Cancel a subscription: Can I still use it until the end of the month?",
            "Cancel a subscription: Will I get my money back?",
        ]
    )
    bare = encoder.encode(["Will I get my money back?"])[0]
    assert np.allclose(stored[2:], expected, atol=2e-3)  # float16 storage
    # The bare line (which could belong to any refund article) is not what is stored.
    assert not np.allclose(stored[3], bare, atol=2e-2)


def test_contextual_passage_without_a_title_is_the_passage():
    assert actions.contextual_passage("", "Will I get my money back?") == (
        "Will I get my money back?"
    )
    assert actions.contextual_passage("Refunds", "How long?") == "Refunds: How long?"


def test_hybrid_search_uses_the_weights_fitted_for_this_database(articles, monkeypatch):
    articles.add(1, "Reset your password", "Choose 'Forgot password' on the sign-in page.")
    articles.add(2, "Change your billing address", "Edit it under Account, then Billing.")
    actions.index_now(kind="article", object_ids=[1, 2])
    visitor = AnonymousUser()
    default = search(user=visitor, query="billing", kinds=("article",))
    # Semantic evidence counts by default: the best score is not the lexical 1.0 alone.
    assert default[0].object_id == 2 and default[0].score != pytest.approx(1.0)

    # Weights for this database (whichever the test runs on) that ignore meaning:
    # hybrid scores become the normalised lexical scores.
    monkeypatch.setitem(
        ranking.WEIGHTS_PER_DATABASE,
        (actions.encoder_for("article"), connection.vendor),
        ranking.Weights(whole=0.0, title=0.0, passage=0.0, lexical=1.0),
    )
    lexical_only = search(user=visitor, query="billing", kinds=("article",))

    assert [(hit.object_id, hit.score) for hit in lexical_only[:1]] == [(2, 1.0)]
    assert all(hit.score == 0.0 for hit in lexical_only[1:])


def test_weights_fall_back_to_the_encoders_own_then_minilms():
    fused = ranking.weights_for("minilm+e5", "postgresql")
    assert fused == ranking.WEIGHTS_PER_DATABASE[("minilm+e5", "postgresql")]
    assert ranking.weights_for("minilm+e5", "sqlite") == ranking.WEIGHTS["minilm+e5"]
    assert fused.lexical < ranking.WEIGHTS["minilm+e5"].lexical  # ts_rank: tie-breaker only
    assert ranking.weights_for("static", "postgresql") == ranking.DEFAULT_WEIGHTS
