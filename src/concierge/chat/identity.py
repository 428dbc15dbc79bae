"""Identity verification: the host site vouches for a signed-in user with an HMAC.

The host's *server* computes::

    signature = hex(HMAC-SHA256(key=channel identity secret, message=f"{user_id}|{email}"))

with ``email`` lower-cased and stripped ("" when it has none) and passes
``user_id``, ``email`` and ``signature`` to ``Concierge.identify`` in the
page. The email is part of the message because an identified visitor is
matched to the customer owning that email and sees their earlier chats: a
signature over the user id alone would let anyone with a valid signature
claim someone else's address. The name is not signed; it only labels.
"""

from __future__ import annotations

import hashlib
import hmac

from concierge.core.errors import PermissionDenied


class IdentityRefused(PermissionDenied):
    """The host's signature is missing or does not match."""

    code = "identity_refused"


def identity_message(user_id: str, email: str) -> bytes:
    return f"{user_id}|{email.strip().lower()}".encode()


def sign_identity(secret: str, *, user_id: str, email: str = "") -> str:
    """What the host's server computes (also used by tests and the demo page)."""
    return hmac.new(secret.encode(), identity_message(user_id, email), hashlib.sha256).hexdigest()


def verify_identity(secret: str, *, user_id: str, email: str, signature: str) -> None:
    """Raises IdentityRefused unless ``signature`` is the HMAC of this user id and email."""
    if not user_id:
        raise IdentityRefused("The identity has no user id.")
    if not signature:
        raise IdentityRefused(
            "The identity is not signed: the host site must pass an HMAC-SHA256 signature "
            "made with the channel's identity secret."
        )
    expected = sign_identity(secret, user_id=user_id, email=email)
    # compare_digest: the time taken must not tell how many characters matched.
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise IdentityRefused(
            "The identity signature does not match: sign f'{user_id}|{email}' with the "
            "channel's identity secret (HMAC-SHA256, hex)."
        )
