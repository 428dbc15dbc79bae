"""Sources of indexed documents, registered by the domains that own them.

A source is a kind ("article", "ticket", "customer") with two functions:
``loader(ids)`` returns the current ``IndexDocument`` of each id, or ``None``
for an id that must leave the index (deleted, archived, unpublished), and
``all_ids()`` lists every id the source would index (for full rebuilds).
The search app never imports the domains' models for articles: knowledge
registers itself in its ``AppConfig.ready``; search registers tickets and
customers in its own ``ready``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from concierge.search.documents import IndexDocument

Loader = Callable[[list[int]], dict[int, IndexDocument | None]]
AllIds = Callable[[], Iterable[int]]
# Optional re-check at query time: which of these object ids may ``user`` see
# now? (The index may lag a write by one background task.)
CanView = Callable[[Any, list[int]], set[int]]


@dataclass(frozen=True)
class Source:
    kind: str
    loader: Loader
    all_ids: AllIds
    can_view: CanView | None = None


_sources: dict[str, Source] = {}


def register_source(
    kind: str, loader: Loader, all_ids: AllIds, can_view: CanView | None = None
) -> None:
    """Registers (or replaces, so that reloading an app is harmless) the source of ``kind``."""
    _sources[kind] = Source(kind=kind, loader=loader, all_ids=all_ids, can_view=can_view)


def get_source(kind: str) -> Source | None:
    """Returns the registered source of ``kind``, or None when no app registered it."""
    return _sources.get(kind)


def registered_kinds() -> list[str]:
    """Lists the kinds that have a source, in registration order."""
    return list(_sources)
