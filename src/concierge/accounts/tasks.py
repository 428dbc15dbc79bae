"""Background work for accounts: emailed sign-in links."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django_tasks import task

from concierge.accounts.actions import make_email_confirmation_token, make_magic_link_token
from concierge.accounts.models import Role, User


@task()
def send_magic_link(user_id: int) -> None:
    """Emails a customer a sign-in link built from ``SITE_URL``.

    Safe to run twice: each run mails a fresh link, and whichever is used
    first invalidates the other.
    """
    user = User.objects.filter(pk=user_id, role=Role.CUSTOMER, is_active=True).first()
    if user is None:
        return
    link = f"{settings.SITE_URL}/portal/magic-link/{make_magic_link_token(user)}/"
    minutes = settings.MAGIC_LINK_MAX_AGE_SECONDS // 60
    send_mail(
        f"Your sign-in link for {settings.SITE_NAME}",
        (
            f"Hello {user.name},\n\n"
            f"Use this link to sign in to {settings.SITE_NAME}:\n\n{link}\n\n"
            f"It works once and expires in {minutes} minutes. If you did not ask for it, "
            "you can ignore this email.\n"
        ),
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
        fail_silently=False,
    )


@task()
def send_email_confirmation(user_id: int) -> None:
    """Emails a new customer the link that confirms their address. Safe to run twice."""
    user = User.objects.filter(
        pk=user_id, role=Role.CUSTOMER, is_active=True, email_verified_at=None
    ).first()
    if user is None:
        return
    link = f"{settings.SITE_URL}/portal/confirm/{make_email_confirmation_token(user)}/"
    send_mail(
        f"Confirm your email address for {settings.SITE_NAME}",
        (
            f"Hello {user.name},\n\n"
            f"Please confirm your email address to finish creating your account:\n\n{link}\n\n"
            "The link works for 3 days. If you did not sign up, you can ignore this email.\n"
        ),
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
        fail_silently=False,
    )
