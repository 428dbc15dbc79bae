"""Accounts: customer sign-up, sign-in throttling, API tokens."""

from __future__ import annotations

import pytest

from concierge.accounts import actions
from concierge.accounts.models import ApiToken, Role, User
from concierge.core.errors import Conflict, LimitExceeded, ValidationFailed
from concierge.customers.models import Customer
from tests.factories import PASSWORD, CustomerFactory

pytestmark = pytest.mark.django_db


def test_sign_up_links_existing_crm_record_by_email():
    known = CustomerFactory(email="Known@Example.com")

    user = actions.sign_up_customer(
        email="known@example.com", name="Known Person", password="a-long-Passphrase-7"
    )

    assert user.role == Role.CUSTOMER
    known.refresh_from_db()
    assert known.user == user
    assert Customer.objects.count() == 1


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
