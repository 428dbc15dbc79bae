"""Tags shared by tickets and customers: one spelling rule, rows created on first use."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from concierge.core.errors import ValidationFailed
from concierge.core.models import Tag

TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_\-:.]{0,63}$")


def normalize_tags(names: Iterable[str]) -> list[str]:
    """Lower-cased, spaces to dashes, validated; duplicates dropped, order kept."""
    result: list[str] = []
    for raw in names:
        name = raw.strip().lower().replace(" ", "-")
        if not name:
            continue
        if not TAG_PATTERN.match(name):
            raise ValidationFailed(
                f"Invalid tag {raw!r}: use letters, digits, '-', '_', ':' or '.', at most 64.",
                field_errors={"tags": ["Invalid tag."]},
            )
        if name not in result:
            result.append(name)
    return result


def tags_named(names: Sequence[str]) -> list[Tag]:
    """The Tag rows for already-normalized ``names``, creating the missing ones."""
    existing = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    if any(name not in existing for name in names):
        Tag.objects.bulk_create(
            [Tag(name=name) for name in names if name not in existing], ignore_conflicts=True
        )
        existing = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    return [existing[name] for name in names if name in existing]
