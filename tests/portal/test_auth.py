"""Portal sign-up, sign-in (password and magic link), password reset and sign-out."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client, TestCase
from django.utils import timezone
from freezegun import freeze_time

from concierge.accounts.models import Role, User
from concierge.customers.models import Customer
from tests.conftest import signed_in_client
from tests.factories import PASSWORD, CustomerFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/portal/requests/"
LOGIN_URL = "/portal/login/"


def _signed_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def _link_path(body: str) -> str:
    match = re.search(re.escape(settings.SITE_URL) + r"(/portal/\S+)", body)
    assert match, body
    return match.group(1)


# --- sign-up ---------------------------------------------------------------------


def test_customer_signs_up_confirms_the_email_and_signs_in():
    client = Client()
    credentials = {"email": "nora@example.test", "password": "a-long-pass-phrase"}

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            "/portal/signup/",
            {"name": "Nora New", "email": "Nora@Example.test", "password": "a-long-pass-phrase"},
        )
    assert response.status_code == 302
    assert response["Location"] == "/portal/confirm/sent/"
    user = User.objects.get(email="nora@example.test")
    assert user.role == Role.CUSTOMER
    assert _signed_in_user_id(client) is None
    refused = client.post(LOGIN_URL, credentials)
    assert refused.status_code == 403
    assert "Email me a new confirmation link" in refused.content.decode()

    link = re.search(r"https?://[^/]+(/portal/confirm/[^\s]+/)", mail.outbox[0].body).group(1)
    confirmed = client.get(link)
    signed_in = client.post(LOGIN_URL, credentials)

    assert confirmed.status_code == 200
    assert "Your email address is confirmed" in confirmed.content.decode()
    assert signed_in.status_code == 302
    assert Customer.objects.get(user=user).name == "Nora New"
    assert _signed_in_user_id(client) == str(user.pk)
    assert client.get(LIST_URL).status_code == 200


def test_confirmation_can_be_requested_again_from_the_sign_in_page(db):
    client = Client()
    sign_up = {"name": "Nora", "email": "nora@example.test", "password": "a-long-pass-phrase"}
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post("/portal/signup/", sign_up)
        response = client.post("/portal/confirm/resend/", {"email": "nora@example.test"})

    assert response["Location"] == "/portal/confirm/sent/"
    assert [m.to for m in mail.outbox] == [["nora@example.test"], ["nora@example.test"]]


def test_sign_up_with_weak_password_keeps_what_was_typed_and_creates_nothing():
    client = Client()

    response = client.post(
        "/portal/signup/", {"name": "Nora <New>", "email": "nora@example.test", "password": "123"}
    )

    assert response.status_code == 422
    content = response.content.decode()
    assert "Choose a stronger password." in content
    assert 'value="Nora &lt;New&gt;"' in content
    assert 'value="nora@example.test"' in content
    assert not User.objects.filter(email="nora@example.test").exists()
    assert _signed_in_user_id(client) is None


def test_sign_up_with_registered_email_is_refused(customer_user):
    response = Client().post(
        "/portal/signup/",
        {"name": "Copy", "email": customer_user.email, "password": "a-long-pass-phrase"},
    )

    assert response.status_code == 409
    assert "An account with this email exists" in response.content.decode()
    assert User.objects.filter(email=customer_user.email).count() == 1


# --- password sign-in ------------------------------------------------------------------


def test_customer_signs_in_with_password(customer_user):
    client = Client()

    response = client.post(LOGIN_URL, {"email": customer_user.email, "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == LIST_URL
    assert _signed_in_user_id(client) == str(customer_user.pk)


def test_sign_in_follows_a_local_next_but_not_an_outside_one(customer_user):
    local = Client().post(
        LOGIN_URL,
        {"email": customer_user.email, "password": PASSWORD, "next": "/portal/requests/new/"},
    )
    outside = Client().post(
        LOGIN_URL,
        {"email": customer_user.email, "password": PASSWORD, "next": "https://evil.example/"},
    )

    assert local["Location"] == "/portal/requests/new/"
    assert outside["Location"] == LIST_URL


@pytest.mark.parametrize("email", ["cora@customers.test", "nobody@customers.test"])
def test_sign_in_failure_shows_one_generic_error(customer_user, email):
    client = Client()

    response = client.post(LOGIN_URL, {"email": email, "password": "wrong-password"})

    assert response.status_code == 422
    content = response.content.decode()
    assert "Email or password is incorrect." in content
    assert f'value="{email}"' in content
    assert _signed_in_user_id(client) is None


def test_agent_cannot_sign_in_to_portal(agent_user):
    client = Client()

    response = client.post(LOGIN_URL, {"email": agent_user.email, "password": PASSWORD})

    assert response.status_code == 422
    assert "Email or password is incorrect." in response.content.decode()
    assert _signed_in_user_id(client) is None


def test_sign_in_is_throttled_after_repeated_failures(customer_user):
    client = Client()
    for _ in range(settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT):
        client.post(LOGIN_URL, {"email": customer_user.email, "password": "wrong-password"})

    response = client.post(LOGIN_URL, {"email": customer_user.email, "password": PASSWORD})

    assert response.status_code == 413
    assert "Too many failed sign-ins" in response.content.decode()
    assert _signed_in_user_id(client) is None


def test_sign_out_needs_post(customer_user):
    client = signed_in_client(customer_user)

    assert client.get("/portal/logout/").status_code == 405
    assert _signed_in_user_id(client) == str(customer_user.pk)

    response = client.post("/portal/logout/")

    assert response["Location"] == LOGIN_URL
    assert _signed_in_user_id(client) is None


def test_visitor_is_sent_to_portal_sign_in(db):
    response = Client().get("/portal/requests/new/")

    assert response.status_code == 302
    assert response["Location"] == "/portal/login/?next=/portal/requests/new/"


def test_staff_user_gets_customer_only_page(agent_user):
    response = signed_in_client(agent_user).get(LIST_URL)

    assert response.status_code == 403
    assert "This portal is for customers" in response.content.decode()


# --- magic link --------------------------------------------------------------------------


def _request_magic_link(email: str) -> str:
    # The link is mailed by a task enqueued after commit; run it now.
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = Client().post("/portal/magic-link/", {"email": email})
    assert response.status_code == 302
    assert response["Location"] == "/portal/magic-link/sent/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [email]
    return _link_path(mail.outbox[0].body)


def test_magic_link_signs_in_once_and_not_twice(customer_user):
    path = _request_magic_link(customer_user.email)
    client = Client()

    confirm_page = client.get(path)
    first = client.post(path)
    second_client = Client()
    second = second_client.post(path)

    assert confirm_page.status_code == 200
    assert "Press the button" in confirm_page.content.decode()
    assert first.status_code == 302
    assert first["Location"] == LIST_URL
    assert _signed_in_user_id(client) == str(customer_user.pk)
    assert second.status_code == 400
    assert "This link no longer works" in second.content.decode()
    assert _signed_in_user_id(second_client) is None
    assert second_client.get(path).status_code == 400


def test_magic_link_stops_working_after_expiry(customer_user):
    start = timezone.now()
    with freeze_time(start):
        path = _request_magic_link(customer_user.email)
    client = Client()

    with freeze_time(start + timedelta(seconds=settings.MAGIC_LINK_MAX_AGE_SECONDS + 5)):
        response = client.post(path)

    assert response.status_code == 400
    assert _signed_in_user_id(client) is None


def test_magic_link_with_altered_token_is_refused(customer_user):
    path = _request_magic_link(customer_user.email)
    client = Client()

    response = client.post(path.rstrip("/")[:-2] + "xx/")

    assert response.status_code == 400
    assert _signed_in_user_id(client) is None


def test_magic_link_request_answers_the_same_for_unknown_address(db):
    client = Client()

    response = client.post("/portal/magic-link/", {"email": "stranger@example.test"}, follow=True)

    assert "If we know this address, we sent a link" in response.content.decode()
    assert mail.outbox == []
    assert not User.objects.filter(email="stranger@example.test").exists()


def test_magic_link_lets_a_customer_who_only_emailed_us_sign_in(db):
    customer = CustomerFactory(email="mailer@example.test")

    path = _request_magic_link("mailer@example.test")
    client = Client()
    response = client.post(path)

    customer.refresh_from_db()
    assert response.status_code == 302
    assert customer.user is not None
    assert _signed_in_user_id(client) == str(customer.user.pk)


def test_magic_link_requests_are_limited_per_address(customer_user):
    client = Client()
    for _ in range(5):
        with TestCase.captureOnCommitCallbacks(execute=True):
            client.post("/portal/magic-link/", {"email": customer_user.email})

    response = client.post("/portal/magic-link/", {"email": customer_user.email})

    assert response.status_code == 429
    assert "at most 5 an hour" in response.content.decode()
    assert len(mail.outbox) == 5


def test_magic_link_is_not_sent_to_staff(agent_user):
    Client().post("/portal/magic-link/", {"email": agent_user.email})

    assert mail.outbox == []


# --- password reset ----------------------------------------------------------------------


def test_password_reset_sets_a_new_password(customer_user):
    client = Client()

    response = client.post("/portal/password-reset/", {"email": customer_user.email})
    assert response["Location"] == "/portal/password-reset/sent/"
    assert len(mail.outbox) == 1
    path = _link_path(mail.outbox[0].body)
    form_page = client.get(path, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "brand-new-phrase-42", "new_password2": "brand-new-phrase-42"},
    )

    assert done["Location"] == "/portal/password-reset/done/"
    signed_in = Client()
    signed_in.post(LOGIN_URL, {"email": customer_user.email, "password": "brand-new-phrase-42"})
    assert _signed_in_user_id(signed_in) == str(customer_user.pk)
