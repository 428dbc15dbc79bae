"""Writes for accounts: agents, teams, customer sign-up, API tokens, sign-in throttling."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from concierge.accounts.models import STAFF_ROLES, ApiToken, Availability, Role, Team, User
from concierge.core import policy
from concierge.core.errors import Conflict, EmailNotConfirmed, LimitExceeded, ValidationFailed
from concierge.core.events import enqueue_after_commit
from concierge.customers.models import Customer, CustomerIdentity, IdentityKind

TOKEN_PREFIX = "cnc_"  # noqa: S105 - a public marker, not a secret


# --- sign-in throttling ----------------------------------------------------


def _failure_keys(email: str, ip: str) -> tuple[str, str]:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"signin-fail:acct:{digest}", f"signin-fail:ip:{ip}"


def check_signin_allowed(*, email: str, ip: str) -> None:
    """Refuses a sign-in attempt when the account or the address failed too often."""
    account_key, ip_key = _failure_keys(email, ip)
    minutes = settings.SIGNIN_FAILURE_WINDOW_SECONDS // 60
    if (cache.get(account_key) or 0) >= settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT:
        raise LimitExceeded(
            f"Too many failed sign-ins for this account; try again in {minutes} minutes "
            "or reset your password."
        )
    if (cache.get(ip_key) or 0) >= settings.SIGNIN_MAX_FAILURES_PER_IP:
        raise LimitExceeded(
            f"Too many failed sign-ins from your network; try again in {minutes} minutes."
        )


def record_signin_failure(*, email: str, ip: str) -> None:
    for key in _failure_keys(email, ip):
        cache.add(key, 0, settings.SIGNIN_FAILURE_WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, settings.SIGNIN_FAILURE_WINDOW_SECONDS)


def clear_signin_failures(*, email: str) -> None:
    account_key, _ = _failure_keys(email, "")
    cache.delete(account_key)


# --- agents and teams ------------------------------------------------------


@transaction.atomic
def create_agent(
    *, actor: Any, email: str, name: str, role: str = Role.AGENT, password: str | None = None
) -> User:
    if actor is not None:
        policy.require(policy.can_manage_settings(actor), "Only admins manage agents.")
    if role not in STAFF_ROLES:
        raise ValidationFailed(
            "Role must be admin, agent or light agent.", field_errors={"role": ["Invalid role."]}
        )
    email = email.strip().lower()
    if User.objects.filter(email=email).exists():
        raise Conflict(
            "A user with this email exists.", field_errors={"email": ["Already in use."]}
        )
    return User.objects.create_user(
        email,
        password,
        name=name.strip() or email,
        role=role,
        email_verified_at=timezone.now(),  # an admin vouches for staff addresses
    )


def update_agent(*, actor: Any, agent: User, changes: dict[str, Any]) -> User:
    """Admins change anyone's role, capacity or activity; agents change their own profile."""
    self_service = {
        "name",
        "signature",
        "availability",
        "notify_on_assignment",
        "notify_on_customer_reply",
        "notify_on_mention",
        "avatar",
    }
    admin_only = {"role", "capacity", "is_active"}
    unknown = set(changes) - self_service - admin_only
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if set(changes) & admin_only or actor.pk != agent.pk:
        policy.require(
            policy.can_manage_settings(actor),
            "Only admins change other agents, roles and capacity.",
        )
    if "role" in changes and changes["role"] not in STAFF_ROLES:
        raise ValidationFailed(
            "Role must be admin, agent or light agent.", field_errors={"role": ["Invalid role."]}
        )
    if "availability" in changes and changes["availability"] not in Availability.values:
        raise ValidationFailed(
            "Unknown availability.", field_errors={"availability": ["Invalid value."]}
        )
    if (
        agent.pk == actor.pk
        and changes.get("role", agent.role) != Role.ADMIN
        and agent.role == Role.ADMIN
    ):
        if not User.objects.filter(role=Role.ADMIN, is_active=True).exclude(pk=agent.pk).exists():
            raise Conflict("You are the last admin; make someone else admin first.")
    for field, value in changes.items():
        setattr(agent, field, value)
    agent.save()
    if {"availability", "capacity", "is_active"} & set(changes):
        # Coming online or gaining capacity frees room: routing assigns waiting tickets.
        from concierge.automation import tasks as routing_tasks  # automation builds on accounts

        enqueue_after_commit(routing_tasks.fill_free_capacity, agent.pk)
    return agent


def set_availability(*, actor: Any, availability: str) -> User:
    return update_agent(actor=actor, agent=actor, changes={"availability": availability})


@transaction.atomic
def save_team(
    *,
    actor: Any,
    name: str,
    description: str = "",
    member_ids: list[int] | None = None,
    team: Team | None = None,
) -> Team:
    policy.require(policy.can_manage_settings(actor), "Only admins manage teams.")
    name = name.strip()
    if not name:
        raise ValidationFailed("A team name is required.", field_errors={"name": ["Required."]})
    same_name = Team.objects.filter(name__iexact=name)
    if team is not None:
        same_name = same_name.exclude(pk=team.pk)
    if same_name.exists():
        raise Conflict("A team with this name exists.", field_errors={"name": ["Already in use."]})
    team = team or Team()
    team.name, team.description = name, description
    team.save()
    if member_ids is not None:
        team.members.set(User.objects.filter(pk__in=member_ids, role__in=STAFF_ROLES))
    return team


def delete_team(*, actor: Any, team: Team) -> None:
    """Deletes a team; its tickets stay, with no team (filter "team: none" finds them)."""
    policy.require(policy.can_manage_settings(actor), "Only admins manage teams.")
    team.delete()


# --- customers who sign in ---------------------------------------------------


@transaction.atomic
def sign_up_customer(*, email: str, name: str, password: str) -> User:
    """Creates a customer's sign-in and emails a link to confirm the address.

    The account sees nothing until the link is opened (``confirm_email``):
    only then is it tied to the customer record of that address, which may
    hold requests the person sent us by email before.
    """
    from concierge.customers.actions import normalize_identity

    email = normalize_identity(IdentityKind.EMAIL, email)
    name = " ".join(name.split())
    if not email or "@" not in email:
        raise ValidationFailed(
            "A valid email address is required.", field_errors={"email": ["Invalid."]}
        )
    if not name:
        raise ValidationFailed("Your name is required.", field_errors={"name": ["Required."]})
    if User.objects.filter(email=email).exists():
        raise Conflict(
            "An account with this email exists; sign in or reset your password.",
            field_errors={"email": ["Already registered."]},
        )
    candidate = User(email=email, name=name, role=Role.CUSTOMER)
    try:
        validate_password(password, candidate)
    except ValidationError as error:
        raise ValidationFailed(
            "Choose a stronger password.", field_errors={"password": list(error.messages)}
        ) from error
    user = User.objects.create_user(email, password, name=name, role=Role.CUSTOMER)
    _send_confirmation(user)
    return user


EMAIL_CONFIRMATION_SALT = "concierge.accounts.confirm-email"
EMAIL_CONFIRMATION_MAX_AGE_SECONDS = 3 * 24 * 3600


def make_email_confirmation_token(user: User) -> str:
    from django.core import signing

    payload = {"user": user.pk, "email": user.email}
    return signing.TimestampSigner(salt=EMAIL_CONFIRMATION_SALT).sign_object(payload)


def _send_confirmation(user: User) -> None:
    from concierge.accounts.tasks import send_email_confirmation
    from concierge.core.events import enqueue_after_commit

    enqueue_after_commit(send_email_confirmation, user.pk)


def resend_email_confirmation(*, email: str, ip: str) -> None:
    """Mails a new confirmation link to an unconfirmed customer; silent for anyone else."""
    check_mail_request_allowed(email=email, ip=ip)
    user = User.objects.filter(
        email=email.strip().lower(), role=Role.CUSTOMER, is_active=True, email_verified_at=None
    ).first()
    if user is not None:
        _send_confirmation(user)


def confirm_email(token: str) -> User | None:
    """Confirms the address a link was sent to; ``None`` when the link is invalid or expired."""
    from django.core import signing

    try:
        payload = signing.TimestampSigner(salt=EMAIL_CONFIRMATION_SALT).unsign_object(
            token, max_age=EMAIL_CONFIRMATION_MAX_AGE_SECONDS
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("user"), int):
        return None
    user = User.objects.filter(
        pk=payload["user"], email=payload.get("email"), role=Role.CUSTOMER, is_active=True
    ).first()
    if user is None:
        return None
    return mark_email_confirmed(user)


@transaction.atomic
def mark_email_confirmed(user: User, *, password_was_chosen_by_owner: bool = True) -> User:
    """Records that ``user`` controls their address and ties them to its customer record.

    Called when a link sent to the address was used: the confirmation link,
    a magic sign-in link or a password-reset link. When the account was never
    confirmed and the proof is not one that sets a password (a magic link),
    the password chosen at sign-up is dropped: whoever chose it never showed
    they own the address.
    """
    from concierge.customers.actions import create_customer

    user = User.objects.select_for_update().get(pk=user.pk)
    if user.role != Role.CUSTOMER:
        return user
    if user.email_verified_at is None:
        user.email_verified_at = timezone.now()
        if not password_was_chosen_by_owner:
            user.set_unusable_password()
        user.save(update_fields=["email_verified_at", "password"])
    if Customer.objects.filter(user=user).exists():
        return user
    identity = (
        CustomerIdentity.objects.select_related("customer")
        .filter(kind=IdentityKind.EMAIL, value=user.email)
        .first()
    )
    if identity is None:
        customer = create_customer(actor=None, name=user.name, email=user.email)
    else:
        customer = identity.customer
        while customer.merged_into_id is not None and customer.merged_into is not None:
            customer = customer.merged_into
        if customer.user_id is not None:
            raise Conflict("This email belongs to another account.")
    customer.user = user
    customer.save(update_fields=["user", "updated_at"])
    return user


def customer_user_for_email(email: str) -> User | None:
    """The customer sign-in for ``email``, creating it (with no password) for a known customer.

    Used by magic links: a customer who wrote to us by email can sign in
    with a link even if they never chose a password. The account is tied to
    the customer record when the link is used (``mark_email_confirmed``).
    """
    email = email.strip().lower()
    user = User.objects.filter(email=email).first()
    if user is not None:
        return user if user.role == Role.CUSTOMER and user.is_active else None
    identity = (
        CustomerIdentity.objects.select_related("customer")
        .filter(kind=IdentityKind.EMAIL, value=email)
        .first()
    )
    if identity is None or identity.customer.user_id is not None:
        return None
    return User.objects.create_user(email, None, name=identity.customer.name, role=Role.CUSTOMER)


# --- API tokens -------------------------------------------------------------


def _hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(*, actor: Any, name: str) -> tuple[ApiToken, str]:
    """Creates a personal token; returns it with the secret, which is never shown again."""
    policy.require(policy.can_manage_own_tokens(actor))
    name = name.strip()[:100]
    if not name:
        raise ValidationFailed(
            "Name the token so you recognise it later.", field_errors={"name": ["Required."]}
        )
    if ApiToken.objects.filter(user=actor, revoked_at__isnull=True).count() >= 50:
        raise LimitExceeded("At most 50 active API tokens per user; revoke one first.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=actor,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_hash=_hash_token(secret),
    )
    return token, secret


def revoke_api_token(*, actor: Any, token_id: int) -> None:
    token = ApiToken.objects.filter(pk=token_id, user=actor).first()
    if token is None:
        from concierge.core.errors import NotFound

        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoke()


def authenticate_api_token(secret: str) -> User | None:
    """The active user a token belongs to; stamps its last use (at most once a minute)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_hash_token(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def sign_in(*, email: str, password: str, ip: str, roles: tuple[str, ...] | None = None) -> User:
    """Checks a password sign-in, throttled per account and per IP address.

    ``roles`` limits who may sign in here (the portal takes customers, the
    workspace staff). Every failure answers with the same message, so the
    page does not reveal which emails have accounts.
    """
    from django.contrib.auth import authenticate

    check_signin_allowed(email=email, ip=ip)
    user = authenticate(username=email.strip().lower(), password=password)
    if user is None or (roles is not None and getattr(user, "role", None) not in roles):
        record_signin_failure(email=email, ip=ip)
        raise ValidationFailed("Email or password is incorrect.")
    clear_signin_failures(email=email)
    if user.role == Role.CUSTOMER and user.email_verified_at is None:  # type: ignore[attr-defined]
        raise EmailNotConfirmed(
            "Confirm your email address first: open the link we emailed you "
            "(or ask for a new one below)."
        )
    return user  # type: ignore[return-value]


# --- emailed sign-in links (magic links) --------------------------------------
#
# The token is a TimestampSigner signature over the user's id and their
# last_login. Signing in changes last_login, so a link stops working the
# moment it has been used, with no table of issued tokens to keep; the
# timestamp makes it expire after MAGIC_LINK_MAX_AGE_SECONDS. Redeeming
# compares-and-sets last_login in one UPDATE, so two clicks racing each other
# cannot both sign in.

MAGIC_LINK_SALT = "concierge.accounts.magic-link"
# Emailed links (sign-in and password reset) per address and per IP per hour:
# enough for a forgetful customer, too few to flood someone's inbox.
MAIL_REQUESTS_PER_ADDRESS_PER_HOUR = 5
MAIL_REQUESTS_PER_IP_PER_HOUR = 30


def _last_login_stamp(user: User) -> str:
    return user.last_login.isoformat() if user.last_login else ""


def make_magic_link_token(user: User) -> str:
    """A sign-in token for ``user``, valid until used or expired."""
    from django.core import signing

    payload = {"user": user.pk, "last_login": _last_login_stamp(user)}
    return signing.TimestampSigner(salt=MAGIC_LINK_SALT).sign_object(payload)


def magic_link_user(token: str) -> User | None:
    """The customer the token would sign in, without using it up; ``None`` if not valid."""
    from django.core import signing

    try:
        payload = signing.TimestampSigner(salt=MAGIC_LINK_SALT).unsign_object(
            token, max_age=settings.MAGIC_LINK_MAX_AGE_SECONDS
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("user"), int):
        return None
    user = User.objects.filter(pk=payload["user"], role=Role.CUSTOMER, is_active=True).first()
    if user is None or _last_login_stamp(user) != payload.get("last_login"):
        return None
    return user


def redeem_magic_link(token: str) -> User | None:
    """The customer the token signs in, using it up; ``None`` if invalid, used or expired."""
    user = magic_link_user(token)
    if user is None:
        return None
    consumed = User.objects.filter(pk=user.pk, last_login=user.last_login).update(
        last_login=timezone.now()
    )
    if consumed != 1:
        return None
    # The link reached the address's mailbox: that proves the address.
    return mark_email_confirmed(user, password_was_chosen_by_owner=False)


def check_mail_request_allowed(*, email: str, ip: str) -> None:
    """Refuses emailing links when an address or a network asked too often this hour."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    for key, limit in (
        (f"mail-request:addr:{digest}", MAIL_REQUESTS_PER_ADDRESS_PER_HOUR),
        (f"mail-request:ip:{ip}", MAIL_REQUESTS_PER_IP_PER_HOUR),
    ):
        cache.add(key, 0, 3600)
        try:
            count = cache.incr(key)
        except ValueError:
            cache.set(key, 1, 3600)
            count = 1
        if count > limit:
            raise LimitExceeded(
                f"Too many emailed links requested: at most {limit} an hour. Try again later."
            )


def request_magic_link(*, email: str, ip: str) -> None:
    """Emails a sign-in link when ``email`` belongs to a customer; silent otherwise.

    The mail goes out from a background task, so the answer takes the same
    time whether or not the address is known.
    """
    check_mail_request_allowed(email=email, ip=ip)
    user = customer_user_for_email(email)
    if user is not None:
        from concierge.accounts.tasks import send_magic_link
        from concierge.core.events import enqueue_after_commit

        enqueue_after_commit(send_magic_link, user.pk)
