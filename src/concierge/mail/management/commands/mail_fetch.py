"""Receives mail over IMAP for every active mailbox with an IMAP server: IDLE, else polling.

    ./concierge manage mail_fetch             # watch continuously (one thread per mailbox)
    ./concierge manage mail_fetch --once      # import what is there, then exit

SIGTERM / SIGINT stop it cleanly after the current message. While it runs,
it also queues outgoing mail whose retry is due and messages whose
processing task was lost in a crash.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections

from concierge.mail import actions
from concierge.mail.imap import ImapWatcher
from concierge.mail.models import Mailbox

HOUSEKEEPING_SECONDS = 60


class Command(BaseCommand):
    help = "Receive mail over IMAP (IDLE with a polling fallback)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mailbox", type=int, action="append", help="Only this mailbox id.")
        parser.add_argument("--once", action="store_true", help="Import once, then exit.")
        parser.add_argument("--no-idle", action="store_true", help="Poll even if IDLE works.")
        parser.add_argument("--poll-interval", type=float, default=60.0)
        parser.add_argument("--batch-size", type=int, default=50)

    def handle(self, *args: Any, **options: Any) -> None:
        mailboxes = Mailbox.objects.filter(is_active=True).exclude(imap_host="")
        if options["mailbox"]:
            mailboxes = mailboxes.filter(pk__in=options["mailbox"])
        chosen = list(mailboxes)
        if not chosen:
            raise CommandError("No active mailbox with an IMAP server to fetch from.")
        actions.requeue_unprocessed_messages()
        stop = threading.Event()
        watchers = [
            ImapWatcher(
                mailbox,
                use_idle=not options["no_idle"],
                poll_interval=options["poll_interval"],
                batch_size=options["batch_size"],
                stop_event=stop,
            )
            for mailbox in chosen
        ]
        if options["once"]:
            for watcher in watchers:
                result = watcher.run_once()
                self.stdout.write(
                    f"{watcher.mailbox.address}: {result.imported} imported, "
                    f"{result.skipped} skipped"
                )
            return

        def request_stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        threads = [
            threading.Thread(
                target=_run, args=(watcher,), name=f"imap-{watcher.mailbox.pk}", daemon=True
            )
            for watcher in watchers
        ]
        for thread in threads:
            thread.start()
        self.stdout.write(f"watching {len(threads)} mailbox(es); Ctrl-C to stop")
        while not stop.wait(HOUSEKEEPING_SECONDS):
            try:
                actions.enqueue_due_outbound()
                actions.requeue_unprocessed_messages()
            except DatabaseError as error:
                self.stderr.write(f"housekeeping failed: {error}")
                close_old_connections()
        for thread in threads:
            thread.join(timeout=30)


def _run(watcher: ImapWatcher) -> None:
    try:
        watcher.run_forever()
    finally:
        close_old_connections()
