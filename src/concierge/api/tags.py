"""Tags with how many tickets carry each."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from concierge.api.auth import current_user
from concierge.api.schemas import ERRORS, TagOut
from concierge.tickets.services import tag_counts

router = Router(tags=["tags"])


@router.get("", response={200: list[TagOut], **ERRORS}, summary="List tags with counts")
def list_tags(request: HttpRequest) -> Any:
    return tag_counts(user=current_user(request))
