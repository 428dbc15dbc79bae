"""Mailbox settings (admins): create and edit a support address; secrets are write-only
and the inbound secret is shown once."""

from __future__ import annotations

from typing import Any, cast

import pytest

from concierge.accounts.models import Team
from concierge.mail.models import Mailbox
from tests.conftest import signed_in_client
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

SMTP_PASSWORD = "smtp-pa55-tangerine"  # noqa: S105 - test data
IMAP_PASSWORD = "imap-pa55-kayak"  # noqa: S105 - test data


def _form(**changes: Any) -> dict[str, Any]:
    """A complete mailbox form as the page posts it."""
    data: dict[str, Any] = {
        "name": "Acme support",
        "address": "help@acme.test",
        "from_name": "Acme Help",
        "default_team": "",
        "is_active": "on",
        "imap_host": "imap.acme.test",
        "imap_port": "993",
        "imap_use_ssl": "on",
        "imap_user": "help",
        "imap_password": "",
        "imap_folder": "INBOX",
        "imap_after_import": "move",
        "imap_move_to_folder": "Imported",
        "smtp_host": "smtp.acme.test",
        "smtp_port": "587",
        "smtp_security": "starttls",
        "smtp_user": "help",
        "smtp_password": "",
        "mailgun_signing_key": "",
        "max_attachment_mb": "10",
        "spam_threshold": "6.5",
        "max_messages_per_sender_per_hour": "30",
        "reopen_solved_on_reply": "on",
        "signature": "The Acme team",
        "acknowledgement_subject": "Got it: {subject}",
        "acknowledgement_template": "Hello {customer_name}, we have #{ticket_id}.",
        "assignment_notification_template": "#{ticket_id} is yours.",
        "customer_reply_notification_template": "{author_name} replied on #{ticket_id}.",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox.objects.create(
        name="Acme support",
        address="help@acme.test",
        smtp_host="smtp.acme.test",
        smtp_password=SMTP_PASSWORD,
        imap_password=IMAP_PASSWORD,
        mailgun_signing_key="key-mailgun-secret",
    )


def test_admin_creates_a_mailbox_and_sees_its_inbound_secret_once(admin_user):
    team = cast(Team, TeamFactory(name="Billing"))
    client = signed_in_client(admin_user)

    response = client.post(
        "/settings/mail/new/",
        _form(
            default_team=str(team.pk), smtp_password=SMTP_PASSWORD, acknowledge_new_requests="on"
        ),
    )

    mailbox = Mailbox.objects.get()
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert mailbox.inbound_secret in response.content.decode()
    assert f"/api/v1/mail/inbound/{mailbox.pk}/postmark" in response.content.decode()
    assert (mailbox.name, mailbox.address, mailbox.default_team) == (
        "Acme support",
        "help@acme.test",
        team,
    )
    assert mailbox.imap_after_import == "move" and mailbox.imap_move_to_folder == "Imported"
    assert mailbox.smtp_password == SMTP_PASSWORD
    assert mailbox.max_attachment_bytes == 10 * 1024 * 1024
    assert mailbox.spam_threshold == 6.5
    assert mailbox.acknowledge_new_requests and mailbox.reopen_solved_on_reply
    assert mailbox.acknowledgement_subject == "Got it: {subject}"
    assert (
        mailbox.inbound_secret not in client.get(f"/settings/mail/{mailbox.pk}/").content.decode()
    )


def test_new_mailbox_form_starts_from_the_default_templates(admin_user):
    content = signed_in_client(admin_user).get("/settings/mail/new/").content.decode()

    assert "We received your request: {subject}" in content
    assert 'name="imap_folder" value="INBOX"' in content


def test_edit_page_never_shows_saved_passwords_or_the_secret(admin_user, mailbox):
    content = signed_in_client(admin_user).get(f"/settings/mail/{mailbox.pk}/").content.decode()

    assert SMTP_PASSWORD not in content
    assert IMAP_PASSWORD not in content
    assert "key-mailgun-secret" not in content
    assert mailbox.inbound_secret not in content
    assert "A password is saved." in content


def test_blank_password_keeps_the_saved_one(admin_user, mailbox):
    response = signed_in_client(admin_user).post(
        f"/settings/mail/{mailbox.pk}/", _form(name="Renamed")
    )

    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.name == "Renamed"
    assert (mailbox.smtp_password, mailbox.imap_password) == (SMTP_PASSWORD, IMAP_PASSWORD)
    assert mailbox.mailgun_signing_key == "key-mailgun-secret"


def test_typed_password_replaces_and_remove_clears(admin_user, mailbox):
    signed_in_client(admin_user).post(
        f"/settings/mail/{mailbox.pk}/",
        _form(smtp_password="brand-new", clear_imap_password="on"),
    )

    mailbox.refresh_from_db()
    assert (mailbox.smtp_password, mailbox.imap_password) == ("brand-new", "")


def test_invalid_mailbox_shows_the_domains_errors_and_is_not_saved(admin_user, mailbox):
    response = signed_in_client(admin_user).post(
        "/settings/mail/new/",
        _form(address="help+tag@acme.test", acknowledgement_template="Hi {nobody}"),
    )
    content = response.content.decode()

    assert response.status_code == 422
    assert "Enter a plain address such as help@example.com (no +tag)." in content
    assert "Unknown placeholders: {nobody}." in content
    assert Mailbox.objects.count() == 1


def test_regenerating_the_secret_shows_the_new_one_and_the_old_stops(admin_user, mailbox):
    old = mailbox.inbound_secret

    response = signed_in_client(admin_user).post(f"/settings/mail/{mailbox.pk}/secret/")

    mailbox.refresh_from_db()
    assert mailbox.inbound_secret != old
    assert mailbox.inbound_secret in response.content.decode()
    assert "The old secret no longer works." in response.content.decode()


def test_mailbox_list_links_each_mailbox_and_the_quarantine(admin_user, mailbox):
    content = signed_in_client(admin_user).get("/settings/mail/").content.decode()

    assert f'href="/settings/mail/{mailbox.pk}/"' in content
    assert 'href="/settings/mail/quarantine/"' in content
    assert 'href="/settings/mail/" aria-current="page">Mail</a>' in content


@pytest.mark.parametrize("url", ["/settings/mail/", "/settings/mail/new/", "/settings/mail/{pk}/"])
def test_agents_cannot_open_mail_settings(agent_user, light_agent_user, mailbox, url):
    url = url.format(pk=mailbox.pk)

    assert signed_in_client(agent_user).get(url).status_code == 403
    assert signed_in_client(light_agent_user).get(url).status_code == 403


def test_agents_cannot_create_edit_or_regenerate_and_nothing_changes(agent_user, mailbox):
    client = signed_in_client(agent_user)
    secret = mailbox.inbound_secret

    created = client.post("/settings/mail/new/", _form(address="other@acme.test"))
    edited = client.post(f"/settings/mail/{mailbox.pk}/", _form(smtp_password="stolen"))
    regenerated = client.post(f"/settings/mail/{mailbox.pk}/secret/")

    assert (created.status_code, edited.status_code, regenerated.status_code) == (403, 403, 403)
    assert secret not in regenerated.content.decode()
    mailbox.refresh_from_db()
    assert Mailbox.objects.count() == 1
    assert (mailbox.smtp_password, mailbox.inbound_secret) == (SMTP_PASSWORD, secret)
