"""One search over articles, tickets and customers (what the caller may see)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema

from concierge.api.auth import current_user
from concierge.api.schemas import ERRORS
from concierge.core.errors import ValidationFailed
from concierge.search import services
from concierge.search.documents import KINDS

router = Router(tags=["search"])


class SearchHitOut(Schema):
    kind: str
    object_id: int
    title: str
    title_html: str
    snippet_html: str
    score: float
    extra: dict[str, Any]


class SearchOut(Schema):
    query: str
    mode: str
    items: list[SearchHitOut]


@router.get("", response={200: SearchOut, **ERRORS}, summary="Search articles, tickets, customers")
def search(
    request: HttpRequest,
    q: str = Query(..., max_length=services.MAX_QUERY_CHARACTERS, description="What to find."),
    kinds: str = Query(",".join(KINDS), description="Comma-separated: article, ticket, customer."),
    mode: str = Query("hybrid", description="hybrid (default), lexical or semantic."),
    locale: str = Query("", max_length=16, description="Only documents in this locale (or any)."),
    limit: int = Query(20, ge=1, le=services.MAX_LIMIT),
) -> dict[str, Any]:
    wanted = [kind.strip() for kind in kinds.split(",") if kind.strip()]
    unknown = sorted(set(wanted) - set(KINDS))
    if unknown:
        raise ValidationFailed(
            f"Unknown kinds: {', '.join(unknown)}.",
            field_errors={"kinds": [f"Use {', '.join(KINDS)}."]},
        )
    hits = services.search(
        user=current_user(request), query=q, kinds=wanted, mode=mode, locale=locale, limit=limit
    )
    return {"query": q, "mode": mode, "items": hits}
