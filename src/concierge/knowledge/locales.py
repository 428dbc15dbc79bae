"""Which language a help center visitor reads, and which translation they get."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

LOCALE_PATTERN = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")


def normalize_locale(value: str) -> str:
    """``"fr_CA"`` / ``"FR-ca"`` -> ``"fr-ca"``; anything malformed -> ``""``."""
    candidate = value.strip().lower().replace("_", "-")
    return candidate if LOCALE_PATTERN.match(candidate) else ""


def accept_language_locales(header: str) -> list[str]:
    """The locales of an ``Accept-Language`` header, most preferred first."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        locale = normalize_locale(name)
        if locale and quality > 0:
            weighted.append((-quality, position, locale))
    return [locale for _, _, locale in sorted(weighted)]


def choose_locale(*, requested: Sequence[str], offered: Iterable[str], default: str) -> str:
    """The first requested locale the help center offers (exactly, or by its language)."""
    offered_list = list(offered)
    for locale in requested:
        if locale in offered_list:
            return locale
        language = locale.split("-")[0]
        if language in offered_list:
            return language
    return default


def fallback_chain(locale: str, *, default: str, source: str) -> list[str]:
    """Where to look for a translation: the locale, its language, the default, the source."""
    chain = [locale, locale.split("-")[0], default, source]
    return list(dict.fromkeys(item for item in chain if item))
