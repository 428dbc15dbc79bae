"""Sign-in, sign-out, password reset and who may open the workspace at all."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from tests.conftest import signed_in_client
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


def test_agent_signs_in_and_lands_in_their_inbox(agent_user, password):
    client = Client()

    response = client.post("/login/", {"email": "AGENT@concierge.test", "password": password})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/")["Location"] == "/inbox/my-open/"
    assert client.get("/inbox/my-open/").status_code == 200


def test_sign_in_follows_a_local_next_but_not_an_external_one(agent_user, password):
    client = Client()
    local = client.post(
        "/login/?next=/customers/", {"email": agent_user.email, "password": password}
    )
    client.post("/logout/")
    external = client.post(
        "/login/",
        {"email": agent_user.email, "password": password, "next": "https://evil.example/"},
    )

    assert local["Location"] == "/customers/"
    assert external["Location"] == "/"


def test_wrong_password_is_refused_with_one_message(agent_user):
    client = Client()

    response = client.post("/login/", {"email": agent_user.email, "password": "wrong"})

    assert response.status_code == 400
    assert b"Email or password is incorrect." in response.content
    assert "_auth_user_id" not in client.session


def test_customer_cannot_sign_in_to_the_workspace(customer_user, password):
    client = Client()

    response = client.post("/login/", {"email": customer_user.email, "password": password})

    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_sign_in_is_throttled_after_repeated_failures(agent_user, password, settings):
    settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT = 3
    client = Client()
    for _ in range(3):
        client.post("/login/", {"email": agent_user.email, "password": "wrong"})

    response = client.post("/login/", {"email": agent_user.email, "password": password})

    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_sign_out_needs_post_and_ends_the_session(agent_user):
    client = signed_in_client(agent_user)

    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")

    assert response["Location"] == "/login/"
    assert client.get("/inbox/my-open/")["Location"].startswith("/login/")


def test_home_sends_each_kind_of_visitor_to_their_place(agent_user, customer_user):
    assert Client().get("/")["Location"] == "/login/"
    assert signed_in_client(customer_user).get("/")["Location"] == "/portal/"
    assert signed_in_client(agent_user).get("/")["Location"] == "/inbox/my-open/"


@pytest.mark.parametrize(
    "url",
    [
        "/inbox/my-open/",
        "/tickets/{ticket}/",
        "/customers/",
        "/organizations/",
        "/search/?q=x",
        "/profile/",
        "/tickets/new/",
        "/settings/agents/",
    ],
)
def test_customer_cannot_open_workspace_pages(customer_user, url):
    ticket = TicketFactory(requester=customer_user.customer)

    response = signed_in_client(customer_user).get(url.format(ticket=ticket.pk))

    assert response.status_code == 403
    assert ticket.subject.encode() not in response.content


def test_anonymous_visitor_is_sent_to_sign_in():
    response = Client().get("/inbox/all-open/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/inbox/all-open/"


def test_customer_cannot_change_a_ticket_through_workspace_posts(customer_user):
    ticket = TicketFactory(requester=customer_user.customer)
    client = signed_in_client(customer_user)

    reply = client.post(f"/tickets/{ticket.pk}/entries/", {"kind": "reply", "body": "Hi"})
    change = client.post(
        f"/tickets/{ticket.pk}/properties/", {"status": "solved", "priority": "low"}
    )

    assert (reply.status_code, change.status_code) == (403, 403)
    ticket.refresh_from_db()
    assert ticket.entries.count() == 1
    assert (ticket.status, ticket.priority) == ("new", "normal")


def test_password_reset_mails_staff_a_working_link(agent_user):
    client = Client()

    response = client.post("/password-reset/", {"email": agent_user.email})

    assert response["Location"] == "/password-reset/sent/"
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/password-reset/" in line)
    path = link.split("://", 1)[1].partition("/")[2]
    confirm = client.get("/" + path, follow=True)
    assert b"Choose a new password" in confirm.content
    form_url = confirm.redirect_chain[-1][0]
    done = client.post(
        form_url,
        {"new_password1": "a-new-long-passphrase-42", "new_password2": "a-new-long-passphrase-42"},
    )
    assert done["Location"] == "/password-reset/complete/"
    agent_user.refresh_from_db()
    assert agent_user.check_password("a-new-long-passphrase-42")


def test_password_reset_sends_nothing_to_customers(customer_user):
    response = Client().post("/password-reset/", {"email": customer_user.email})

    assert response.status_code == 302
    assert mail.outbox == []
