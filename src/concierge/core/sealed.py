"""Credentials kept encrypted in the database (mailbox passwords, API tokens).

A desk stores other systems' secrets: the IMAP and SMTP passwords of its
mailboxes, Mailgun's signing key, the API token of a help center import. In
the database they are sealed with Fernet (AES-128-CBC + HMAC-SHA256, from
the ``cryptography`` package), so a database dump, a backup or a read-only
replica does not give them away. The key is derived from ``SECRET_KEY``;
``SECRET_KEY_FALLBACKS`` still open what older keys sealed, so the key can
be rotated as Django documents it (new key first, old ones as fallbacks,
then save each mailbox again to re-seal).

In Python the field's value is the plain text; only the column holds the
sealed form, marked with a prefix. A value without the prefix (stored
before sealing existed) is read as it is and sealed the next time it is
saved; the migrations that introduced the field seal them at once.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models
from django.utils.crypto import salted_hmac

PREFIX = "sealed:v1:"
UNSEAL_HINT = (
    "a stored credential cannot be decrypted: SECRET_KEY changed and the old key is not in "
    "SECRET_KEY_FALLBACKS. Add it there, or enter the credential again."
)
logger = logging.getLogger(__name__)


class UnsealError(Exception):
    """A sealed value none of the configured keys opens (SECRET_KEY changed without a fallback)."""


def _fernet_for(secret_key: str) -> Fernet:
    # A key of its own for this purpose: the 32 bytes Fernet takes, from SECRET_KEY.
    digest = salted_hmac(
        "concierge.core.sealed", "fernet key", secret=secret_key, algorithm="sha256"
    ).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _keys() -> MultiFernet:
    secret_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet_for(key) for key in secret_keys])


def seal(text: str) -> str:
    """``text`` sealed for the database ("" stays "": a blank field stays blank)."""
    if not text or text.startswith(PREFIX):
        return text
    return PREFIX + _keys().encrypt(text.encode("utf-8")).decode("ascii")


def unseal(stored: str) -> str:
    """The plain text of a stored value (a value stored before sealing is returned as it is)."""
    if not stored or not stored.startswith(PREFIX):
        return stored
    try:
        return _keys().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken as error:
        raise UnsealError(UNSEAL_HINT) from error


class SealedCharField(models.TextField):
    """Text sealed in its column (see the module docstring).

    ``max_length`` bounds the plain text (forms and validation); the column is
    text, since the sealed form is about 1.4 times longer plus 100 characters.
    Sealed values cannot be searched or compared in queries, except with "".
    """

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return unseal(value)
        except UnsealError:
            # The pages that list mailboxes must still open: the credential reads as
            # blank (its connection fails and says so) until an admin enters it again.
            logger.error("%s.%s: %s", self.model.__name__, self.name, UNSEAL_HINT)
            return ""

    def to_python(self, value: Any) -> Any:
        return unseal(value) if isinstance(value, str) else value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return seal(value) if isinstance(value, str) else value
