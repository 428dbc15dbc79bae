"""What a domain hands to the search index: one plain-text document per object.

An object in several languages (an article and its translations) is one
document: its main text in ``title``/``body`` and ``locale``, the other
translations appended to ``body`` (lexical matches) and given as
``passages`` (one vector each), so every published translation is
searchable and a hit names one object, which the domain then shows in the
reader's language or its fallback.

Domains (knowledge, tickets, customers) describe their objects as
``IndexDocument`` values; the search app stores, embeds and ranks them. The
``audience`` says who may ever see the document at all — the search service
re-checks ``core.policy`` on every hit on top of it, so a wrong audience can
hide a result but never leak one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("article", "ticket", "customer")

#: "public": anyone, anonymous included; "signed_in": any customer signed in
#: to the portal (and staff); "customer": the customer named by
#: ``customer_id`` (and their organization when ``organization_id`` is set);
#: "members": customers of the organizations the document's source names
#: (articles for chosen organizations: ``core.policy`` asks the source's own
#: table, so the list is never copied into the index); "staff": agents and
#: admins only. (At most 10 characters: the column's width; widening it would
#: rebuild the table on SQLite and drop its full-text triggers.)
AUDIENCES = ("public", "signed_in", "customer", "members", "staff")


@dataclass(frozen=True)
class IndexDocument:
    """One indexed object; ``body`` is plain text (markdown and HTML stripped)."""

    kind: str  # "article" | "ticket" | "customer"
    object_id: int
    title: str
    body: str
    locale: str = ""  # "en", "fr", ... ("" = any)
    audience: str = "staff"  # one of AUDIENCES
    customer_id: int | None = None  # for audience="customer": who may find it
    organization_id: int | None = None  # org-wide visibility
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    # Text only staff may match on (a ticket's internal notes). It is indexed
    # in a separate field that searches for customers never look at.
    staff_body: str = ""
    # More texts embedded as passages, besides the body's sentences: an
    # article's other translations (title, then title and text), so that a
    # question in any of its languages finds it by meaning. Their words belong
    # in ``body`` too, for the lexical index.
    passages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.audience not in AUDIENCES:
            raise ValueError(f"audience must be one of {AUDIENCES}, not {self.audience!r}")
