"""Accounts: customer sign-up, sign-in throttling, API tokens."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from concierge.accounts import actions
from concierge.accounts.models import ApiToken, Role, User
from concierge.core.errors import Conflict, EmailNotConfirmed, LimitExceeded, ValidationFailed
from concierge.customers.models import Customer
from tests.factories import PASSWORD, CustomerFactory

pytestmark = pytest.mark.django_db


def test_sign_up_links_existing_crm_record_only_once_the_email_is_confirmed(
    django_capture_on_commit_callbacks,
):
    known = CustomerFactory(email="Known@Example.com")
    password = "a-long-Passphrase-7"

    with django_capture_on_commit_callbacks(execute=True):
        user = actions.sign_up_customer(email="known@example.com", name="Known", password=password)
    known.refresh_from_db()
    assert user.role == Role.CUSTOMER
    assert known.user is None
    assert mail.outbox[0].to == ["known@example.com"]
    with pytest.raises(EmailNotConfirmed):
        actions.sign_in(email="known@example.com", password=password, ip="1.1.1.1")

    token = re.search(r"/portal/confirm/([^/\s]+)/", mail.outbox[0].body).group(1)
    assert actions.confirm_email(token) == user

    known.refresh_from_db()
    assert known.user == user
    assert Customer.objects.count() == 1
    assert actions.sign_in(email="known@example.com", password=password, ip="1.1.1.1") == user


def test_altered_confirmation_token_confirms_nothing(db):
    user = actions.sign_up_customer(email="n@example.com", name="N", password="a-long-Passphrase-7")

    assert actions.confirm_email(actions.make_email_confirmation_token(user) + "x") is None
    user.refresh_from_db()
    assert user.email_verified_at is None


def test_magic_link_to_an_unconfirmed_sign_up_drops_the_password_chosen_without_proof():
    victim_record = CustomerFactory(email="victim@example.com")
    squatter = actions.sign_up_customer(
        email="victim@example.com", name="Mallory", password="a-long-Passphrase-7"
    )

    # The real owner asks for a sign-in link and uses it.
    owner = actions.redeem_magic_link(actions.make_magic_link_token(squatter))

    assert owner is not None
    owner.refresh_from_db()
    assert owner.email_verified_at is not None
    assert not owner.has_usable_password()
    victim_record.refresh_from_db()
    assert victim_record.user == owner


def test_sign_up_refuses_weak_password_and_duplicate_email():
    with pytest.raises(ValidationFailed) as error:
        actions.sign_up_customer(email="new@example.com", name="New", password="123")
    assert "password" in error.value.field_errors
    actions.sign_up_customer(email="new@example.com", name="New", password="a-long-Passphrase-7")

    with pytest.raises(Conflict):
        actions.sign_up_customer(
            email="NEW@example.com", name="Again", password="a-long-Passphrase-7"
        )
    assert User.objects.filter(email="new@example.com").count() == 1


def test_sign_in_is_throttled_per_account_after_repeated_failures(agent_user, settings):
    settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT = 3
    for _ in range(3):
        with pytest.raises(ValidationFailed):
            actions.sign_in(email=agent_user.email, password="wrong", ip="10.0.0.1")

    with pytest.raises(LimitExceeded, match="Too many failed sign-ins for this account"):
        actions.sign_in(email=agent_user.email, password=PASSWORD, ip="10.0.0.2")


def test_sign_in_is_throttled_per_ip_across_accounts(settings, db):
    settings.SIGNIN_MAX_FAILURES_PER_IP = 4
    for number in range(4):
        with pytest.raises(ValidationFailed):
            actions.sign_in(email=f"nobody{number}@x.test", password="wrong", ip="10.0.0.9")

    with pytest.raises(LimitExceeded, match="from your network"):
        actions.sign_in(email="someone@x.test", password="wrong", ip="10.0.0.9")


def test_sign_in_refuses_roles_not_allowed_here(customer_user):
    with pytest.raises(ValidationFailed, match="incorrect"):
        actions.sign_in(
            email=customer_user.email, password=PASSWORD, ip="1.2.3.4", roles=("agent",)
        )


def test_api_token_is_stored_hashed_and_stops_working_when_revoked(agent_user):
    token, secret = actions.create_api_token(actor=agent_user, name="CLI")

    assert secret not in token.token_hash
    assert ApiToken.objects.filter(token_hash__contains=secret).count() == 0
    assert actions.authenticate_api_token(secret) == agent_user
    token.refresh_from_db()
    assert token.last_used_at is not None

    actions.revoke_api_token(actor=agent_user, token_id=token.pk)
    assert actions.authenticate_api_token(secret) is None


def test_tokens_of_deactivated_users_do_not_authenticate(agent_user):
    _, secret = actions.create_api_token(actor=agent_user, name="CLI")
    agent_user.is_active = False
    agent_user.save()

    assert actions.authenticate_api_token(secret) is None


def test_last_admin_cannot_demote_themselves(admin_user):
    with pytest.raises(Conflict, match="last admin"):
        actions.update_agent(actor=admin_user, agent=admin_user, changes={"role": Role.AGENT})

    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN
