"""Fixtures for search tests: an in-memory article source and indexing on commit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from concierge.search import registry, vectors
from concierge.search.documents import IndexDocument


class FakeArticles:
    """Articles as the knowledge app would describe them, kept in a dict for tests."""

    def __init__(self) -> None:
        self.documents: dict[int, IndexDocument] = {}

    def add(self, object_id: int, title: str, body: str, *, audience: str = "public") -> None:
        self.documents[object_id] = IndexDocument(
            kind="article", object_id=object_id, title=title, body=body, audience=audience
        )

    def load(self, ids: list[int]) -> dict[int, IndexDocument | None]:
        return {object_id: self.documents.get(object_id) for object_id in ids}

    def all_ids(self) -> list[int]:
        return sorted(self.documents)


@pytest.fixture
def articles(db: None) -> Iterator[FakeArticles]:
    """Replaces the "article" source by an in-memory one for the test."""
    previous = registry.get_source("article")
    fake = FakeArticles()
    registry.register_source("article", fake.load, fake.all_ids)
    yield fake
    if previous is not None:
        registry.register_source("article", previous.loader, previous.all_ids, previous.can_view)


@pytest.fixture(autouse=True)
def _fresh_vector_caches() -> Iterator[None]:
    # Each test has its own database: matrices loaded for another must go.
    vectors.reset_caches()
    yield
    vectors.reset_caches()
