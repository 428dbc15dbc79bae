"""Credentials are encrypted in the database, read back as typed, and survive a key rotation."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from concierge.core.sealed import PREFIX, UnsealError, seal, unseal
from concierge.knowledge.models import HelpCenterImport
from concierge.mail.models import Mailbox

pytestmark = pytest.mark.django_db


def _stored(table: str, column: str, pk: int) -> str:
    """The column as stored, past the field (names from the models, never from input)."""
    table, column = connection.ops.quote_name(table), connection.ops.quote_name(column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return str(cursor.fetchone()[0])


def test_mailbox_passwords_are_sealed_in_the_database_and_plain_in_python() -> None:
    mailbox = Mailbox.objects.create(
        name="Support",
        address="help@acme.test",
        imap_password="imap-pässword",
        smtp_password="smtp secret",
        mailgun_signing_key="key-123",
    )

    for column, plain in [
        ("imap_password", "imap-pässword"),
        ("smtp_password", "smtp secret"),
        ("mailgun_signing_key", "key-123"),
    ]:
        stored = _stored(Mailbox._meta.db_table, column, mailbox.pk)
        assert stored.startswith(PREFIX) and plain not in stored
    again = Mailbox.objects.get(pk=mailbox.pk)
    assert (again.imap_password, again.smtp_password, again.mailgun_signing_key) == (
        "imap-pässword",
        "smtp secret",
        "key-123",
    )


def test_a_blank_credential_stays_blank_and_can_be_queried() -> None:
    mailbox = Mailbox.objects.create(name="Support", address="help@acme.test")

    assert _stored(Mailbox._meta.db_table, "imap_password", mailbox.pk) == ""
    assert Mailbox.objects.filter(imap_password="").count() == 1


def test_an_import_token_is_sealed_until_the_run_erases_it(admin_user: Any) -> None:
    job = HelpCenterImport.objects.create(
        source="zendesk", subdomain="acme", api_email="a@acme.test", api_secret="tok-SECRET",
        created_by=admin_user,
    )  # fmt: skip

    assert "tok-SECRET" not in _stored(HelpCenterImport._meta.db_table, "api_secret", job.pk)
    assert HelpCenterImport.objects.get(pk=job.pk).api_secret == "tok-SECRET"


def test_a_value_stored_before_sealing_is_read_as_it_is_and_sealed_on_save() -> None:
    mailbox = Mailbox.objects.create(name="Support", address="help@acme.test")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {connection.ops.quote_name(Mailbox._meta.db_table)} "  # noqa: S608
            "SET imap_password = %s WHERE id = %s",
            ["legacy-plain", mailbox.pk],
        )

    legacy = Mailbox.objects.get(pk=mailbox.pk)
    assert legacy.imap_password == "legacy-plain"
    legacy.save()
    assert _stored(Mailbox._meta.db_table, "imap_password", mailbox.pk).startswith(PREFIX)


def test_the_old_key_as_a_fallback_still_opens_what_it_sealed(settings: Any) -> None:
    sealed = seal("hunter2")
    assert sealed != seal("hunter2")  # a fresh nonce each time: equal secrets do not show

    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-key-" + "x" * 50
    with pytest.raises(UnsealError, match="SECRET_KEY_FALLBACKS"):
        unseal(sealed)
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert unseal(sealed) == "hunter2"
    assert unseal(seal("hunter2")) == "hunter2"  # sealed again with the new key


def test_a_credential_no_key_opens_reads_blank_and_is_logged(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox = Mailbox.objects.create(name="Support", address="help@acme.test", imap_password="pw")
    settings.SECRET_KEY = "a-new-key-" + "y" * 50  # rotated without a fallback

    with caplog.at_level("ERROR", logger="concierge.core.sealed"):
        reloaded = Mailbox.objects.get(pk=mailbox.pk)  # the settings pages still open

    assert reloaded.imap_password == ""
    assert "Mailbox.imap_password" in caplog.text and "SECRET_KEY_FALLBACKS" in caplog.text
