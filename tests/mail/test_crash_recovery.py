"""Killing the IMAP worker mid-batch and restarting it imports every message exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from concierge.mail.models import InboundMessage, InboundStatus, Mailbox, SmtpSecurity
from concierge.tickets.models import Entry, Ticket
from tests.mail.messages import email
from tests.mail.real_servers import Dovecot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Enough for several batches of 25 on both sides of the kill; each message is processed
# (rules, search index; not triage, see _worker_env) inside the worker.
MESSAGES = 200
ROOT = Path(__file__).resolve().parents[2]


def _fill(dovecot: Dovecot, user: str) -> None:
    client = dovecot.client(user)
    try:
        for start in range(0, MESSAGES, 100):
            client.multiappend(
                "INBOX",
                [
                    email(
                        sender=f"Customer {n % 25} <customer{n % 25}@customers.test>",
                        subject=f"Request number {n}",
                        body=f"Message {n} of the batch.",
                        message_id=f"<batch-{n}@customers.test>",
                    )
                    for n in range(start, min(start + 100, MESSAGES))
                ],
            )
    finally:
        client.logout()


def _worker_env(database_file: Path | None) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DJANGO_SETTINGS_MODULE": "concierge.settings",
        "TASK_BACKEND": "immediate",  # processing runs inside the worker, as in a crash
        # What is tested is the import (exactly once); classifying 500 messages with the
        # sentence encoder inside the worker took most of this test's minute and a half.
        "CONCIERGE_TRIAGE": "false",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    if database_file is not None:
        env["SQLITE_PATH"] = str(database_file)
        env.pop("DATABASE_URL", None)
    else:
        database = connection.settings_dict
        env["DATABASE_URL"] = (
            f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST']}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        )
    return env


def _fetch(
    env: dict[str, str], mailbox: Mailbox, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    # Output goes to a file: a pipe nobody reads would fill up and stall the worker.
    with log.open("ab") as output:
        return subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "django", "mail_fetch", "--mailbox", str(mailbox.pk), *extra],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=output,
        )


def _counter(database_file: Path | None) -> Callable[[], int]:
    if database_file is None:
        return lambda: InboundMessage.objects.count()

    def count() -> int:
        reader = sqlite3.connect(f"file:{database_file}?mode=ro", uri=True, timeout=5)
        try:
            return int(reader.execute("SELECT COUNT(*) FROM mail_inboundmessage").fetchone()[0])
        finally:
            reader.close()

    return count


def test_worker_killed_mid_batch_imports_every_message_exactly_once(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    mailbox = Mailbox.objects.create(
        name="Batch",
        address="batch@acme.test",
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_use_ssl=False,
        imap_user=dovecot.new_account(),
        imap_password="imap-test-password",
        smtp_security=SmtpSecurity.NONE,
        max_messages_per_sender_per_hour=10_000,
    )
    _fill(dovecot, mailbox.imap_user)
    database_file: Path | None = None
    if connection.vendor == "sqlite":
        # The worker gets its own copy of the test database, taken back after: its
        # writes then never wait on this test's open connection to the shared file.
        database_file = tmp_path / "worker.sqlite3"
        connection.ensure_connection()
        with sqlite3.connect(database_file) as target:
            connection.connection.backup(target)
    env = _worker_env(database_file)
    count = _counter(database_file)

    log = tmp_path / "worker.log"
    worker = _fetch(env, mailbox, log, "--batch-size", "25")
    deadline = time.monotonic() + 60
    while count() < MESSAGES // 3 and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    killed_at = count()
    assert 0 < killed_at < MESSAGES, (
        f"killed after {killed_at} messages; {log.read_text(errors='replace')[-3000:]}"
    )

    restarted = _fetch(env, mailbox, log, "--once", "--batch-size", "100")
    # A ceiling, not a speed goal: the test is about exactly-once; CI runs on a busy machine.
    try:
        restarted.wait(timeout=300)
    except subprocess.TimeoutExpired:
        restarted.kill()  # a worker left running would hold the test database open
        restarted.wait(timeout=10)
        raise
    assert restarted.returncode == 0, log.read_text(errors="replace")[-3000:]

    if database_file is not None:
        with sqlite3.connect(database_file) as source:
            source.backup(connection.connection)
    messages = InboundMessage.objects.filter(mailbox=mailbox)
    assert messages.count() == MESSAGES
    assert set(messages.values_list("status", flat=True)) == {InboundStatus.PROCESSED}
    assert messages.values("message_id").distinct().count() == MESSAGES
    assert messages.values("entry_id").distinct().count() == MESSAGES
    assert Ticket.objects.count() == MESSAGES
    assert Entry.objects.count() == MESSAGES
    imap = dovecot.client(mailbox.imap_user)
    imap.select_folder("INBOX", readonly=True)
    assert imap.search(["UNSEEN"]) == []  # every message flagged once stored
    imap.logout()
