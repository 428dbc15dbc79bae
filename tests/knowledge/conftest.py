"""Knowledge tests index real articles through the search app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.knowledge.helpers import reset_search_caches


@pytest.fixture(autouse=True)
def _fresh_search_caches() -> Iterator[None]:
    # The index rows of a test are rolled back; its cached vectors must go with them.
    reset_search_caches()
    yield
    reset_search_caches()
