"""IMAP import against Dovecot: after-import actions, UID bookkeeping, never twice."""

from __future__ import annotations

import pytest
from imapclient.imapclient import SEEN

from concierge.mail.imap import ImapWatcher
from concierge.mail.models import AfterImport, ImapCursor, InboundMessage, Mailbox
from tests.mail.messages import email
from tests.mail.real_servers import Dovecot

pytestmark = pytest.mark.django_db


def _mailbox(dovecot: Dovecot, **changes: object) -> Mailbox:
    fields: dict[str, object] = {
        "name": "Acme",
        "address": "help@acme.test",
        "imap_host": dovecot.host,
        "imap_port": dovecot.port,
        "imap_use_ssl": False,
        "imap_user": dovecot.new_account(),
        "imap_password": "imap-test-password",
        **changes,
    }
    return Mailbox.objects.create(**fields)


def test_flag_seen_marks_imported_messages_and_runs_again_import_nothing(
    dovecot: Dovecot,
) -> None:
    mailbox = _mailbox(dovecot)
    for n in range(3):
        dovecot.append(mailbox.imap_user, email(message_id=f"<m{n}@customers.test>"))

    assert ImapWatcher(mailbox).run_once().imported == 3
    assert ImapWatcher(mailbox).run_once().imported == 0

    assert InboundMessage.objects.count() == 3
    imap = dovecot.client(mailbox.imap_user)
    imap.select_folder("INBOX", readonly=True)
    assert all(SEEN in flags for flags in imap.get_flags(imap.search(["ALL"])).values())
    imap.logout()
    cursor = ImapCursor.objects.get(mailbox=mailbox)
    assert cursor.last_uid == 3 and cursor.uidvalidity


def test_first_run_skips_mail_already_read_in_the_mailbox(dovecot: Dovecot) -> None:
    mailbox = _mailbox(dovecot)
    imap = dovecot.client(mailbox.imap_user)
    imap.append("INBOX", email(message_id="<old@customers.test>"), flags=[SEEN])
    imap.append("INBOX", email(message_id="<new@customers.test>"))
    imap.logout()

    ImapWatcher(mailbox).run_once()

    assert list(InboundMessage.objects.values_list("message_id", flat=True)) == [
        "new@customers.test"
    ]


def test_move_after_import_moves_to_the_folder(dovecot: Dovecot) -> None:
    mailbox = _mailbox(dovecot, imap_after_import=AfterImport.MOVE, imap_move_to_folder="Imported")
    dovecot.append(mailbox.imap_user, email())

    ImapWatcher(mailbox).run_once()

    imap = dovecot.client(mailbox.imap_user)
    assert imap.select_folder("INBOX")[b"EXISTS"] == 0
    assert imap.select_folder("Imported")[b"EXISTS"] == 1
    imap.logout()
    assert InboundMessage.objects.count() == 1


def test_delete_after_import_expunges(dovecot: Dovecot) -> None:
    mailbox = _mailbox(dovecot, imap_after_import=AfterImport.DELETE)
    dovecot.append(mailbox.imap_user, email())
    dovecot.append(mailbox.imap_user, email(message_id="<two@customers.test>"))

    assert ImapWatcher(mailbox).run_once().imported == 2

    imap = dovecot.client(mailbox.imap_user)
    assert imap.select_folder("INBOX")[b"EXISTS"] == 0
    imap.logout()


def test_new_uidvalidity_rescans_without_importing_twice(dovecot: Dovecot) -> None:
    mailbox = _mailbox(dovecot, imap_after_import=AfterImport.MOVE, imap_move_to_folder="Done")
    dovecot.append(mailbox.imap_user, email())
    ImapWatcher(mailbox).run_once()
    # The server rebuilt its mailbox: same message, new UIDVALIDITY (simulated on our side).
    ImapCursor.objects.filter(mailbox=mailbox).update(uidvalidity=1, last_uid=99)
    dovecot.append(mailbox.imap_user, email())  # the same Message-ID again
    dovecot.append(mailbox.imap_user, email(message_id="<fresh@customers.test>"))

    ImapWatcher(mailbox).run_once()

    assert sorted(InboundMessage.objects.values_list("message_id", flat=True)) == [
        "first@customers.test",
        "fresh@customers.test",
    ]


def test_message_is_not_flagged_when_storing_it_fails(dovecot: Dovecot) -> None:
    mailbox = _mailbox(dovecot)
    dovecot.append(mailbox.imap_user, b"\r\n\r\n")  # empty: receiving refuses it

    result = ImapWatcher(mailbox).run_once()

    assert result.imported == 0 and result.skipped == 1
    imap = dovecot.client(mailbox.imap_user)
    imap.select_folder("INBOX", readonly=True)
    assert imap.search(["UNSEEN"]) == [1]  # left for a person
    imap.logout()
