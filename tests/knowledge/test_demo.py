"""The demo help center loads once, through the real actions."""

from __future__ import annotations

import pytest

from concierge.demo import generator
from concierge.demo.knowledge import ensure_demo_help_center
from concierge.knowledge.models import Article, ArticleTranslation
from tests.factories import make_admin

pytestmark = pytest.mark.django_db


def test_demo_help_center_loads_once():
    make_admin(email=generator.ADMIN_EMAIL)

    first = ensure_demo_help_center()
    again = ensure_demo_help_center()

    assert "articles published" in first and "already loaded" in again
    assert Article.objects.filter(status="published", visibility="public").count() == 11
    assert Article.objects.filter(visibility="internal").count() == 1
    assert ArticleTranslation.objects.filter(locale="fr").count() == 2
