"""Rows embedded by an encoder no longer configured are re-embedded by the periodic job."""

from __future__ import annotations

import pytest

from concierge.search import actions, vectors
from concierge.search.models import SearchDocument
from tests.factories import make_admin
from tests.knowledge.helpers import make_article, make_structure

pytestmark = pytest.mark.django_db


def test_rows_left_by_another_encoder_are_re_embedded_newest_first(
    django_capture_on_commit_callbacks,
):
    admin = make_admin()
    with django_capture_on_commit_callbacks(execute=True):
        _, section = make_structure(admin)
        older = make_article(admin, section, title="Reset your password")
        newer = make_article(admin, section, title="Change your billing address")
    rows = SearchDocument.objects.filter(kind="article")
    current = vectors.stored_label(actions.encoder_for("article"))  # e.g. "minilm+e5@v2"
    assert set(rows.values_list("encoder", flat=True)) == {current}
    # As an upgrade that changed the article encoder (or its format version) leaves them:
    rows.update(encoder="retired-model")

    assert actions.refresh_stale_vectors(limit=1) == 1
    assert rows.get(object_id=newer.pk).encoder == current
    assert rows.get(object_id=older.pk).encoder == "retired-model"
    assert actions.refresh_stale_vectors() == 1
    assert set(rows.values_list("encoder", flat=True)) == {current}
    assert actions.refresh_stale_vectors() == 0  # nothing left: a pass costs one query per kind


def test_rows_that_have_no_vector_are_left_alone(settings):
    settings.SEARCH_ENCODERS = {**settings.SEARCH_ENCODERS, "ticket": "default"}
    SearchDocument.objects.create(kind="ticket", object_id=1, title="Refund", encoder="")
    assert actions.refresh_stale_vectors() == 0
