"""Receiving over IMAP/IMAPS: IDLE when the server offers it, polling otherwise.

One watcher per mailbox keeps one connection on the mailbox's folder. For
each new message, in UID order:

1. fetch it with ``BODY.PEEK[]`` (peeking leaves the \\Seen flag alone);
2. store it with ``receive_raw_message`` — the raw bytes and the row are
   committed when that returns, processing runs later as a task;
3. only then apply the mailbox's after-import action (flag seen, move,
   delete) to the batch, and advance the folder's ``ImapCursor``.

A crash anywhere re-fetches at most the last batch, and receiving
deduplicates it (same Message-ID, or same bytes without one), so nothing is
lost and nothing is imported twice. UIDs are only compared within one
UIDVALIDITY; a new UIDVALIDITY starts the cursor over, again protected by
that deduplication.

Every network call has a timeout: connecting and each read or write
(``SocketTimeout``), and IDLE waits in short slices so a stop request or a
dead connection is noticed within seconds.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.imapclient import SEEN, SocketTimeout

from concierge.core.errors import ConciergeError
from concierge.mail.actions import receive_raw_message
from concierge.mail.models import (
    RAW_MESSAGE_MAX_BYTES,
    AfterImport,
    ImapCursor,
    InboundSource,
    Mailbox,
)

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 15
READ_TIMEOUT_SECONDS = 60
IDLE_SLICE_SECONDS = 1.0
# RFC 2177: re-issue IDLE at least every 29 minutes; many servers and NATs cut sooner.
IDLE_RENEW_SECONDS = 10 * 60
MAX_BACKOFF_SECONDS = 5 * 60

NETWORK_ERRORS = (IMAPClientError, OSError, ssl.SSLError, socket.timeout, EOFError)


@dataclass
class SyncResult:
    imported: int = 0
    skipped: int = 0


def chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ImapWatcher:
    """Imports a mailbox's IMAP folder, once (``run_once``) or continuously (``run_forever``)."""

    def __init__(
        self,
        mailbox: Mailbox,
        *,
        use_idle: bool = True,
        poll_interval: float = 60.0,
        idle_renew_seconds: float = IDLE_RENEW_SECONDS,
        batch_size: int = 50,
        stop_event: threading.Event | None = None,
        on_imported: Callable[[int], None] | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.use_idle = use_idle
        self.poll_interval = poll_interval
        self.idle_renew_seconds = idle_renew_seconds
        self.batch_size = batch_size
        self.stop_event = stop_event or threading.Event()
        self.on_imported = on_imported

    # --- connection -------------------------------------------------------------

    def connect(self) -> IMAPClient:
        mailbox = self.mailbox
        client = IMAPClient(
            mailbox.imap_host,
            port=mailbox.imap_port,
            ssl=mailbox.imap_use_ssl,
            ssl_context=ssl.create_default_context() if mailbox.imap_use_ssl else None,
            timeout=SocketTimeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS),
        )
        try:
            client.login(mailbox.imap_user, mailbox.imap_password)
            if mailbox.imap_after_import == AfterImport.MOVE and mailbox.imap_move_to_folder:
                if not client.folder_exists(mailbox.imap_move_to_folder):
                    client.create_folder(mailbox.imap_move_to_folder)
        except BaseException:
            _close(client)
            raise
        return client

    def run_once(self) -> SyncResult:
        """Connects, imports what is new, disconnects."""
        client = self.connect()
        try:
            return self.sync(client)
        finally:
            _close(client)

    def run_forever(self) -> None:
        """Watches the folder until ``stop_event`` is set, reconnecting with backoff on errors."""
        backoff = 1.0
        while not self.stop_event.is_set():
            client: IMAPClient | None = None
            try:
                client = self.connect()
                close_old_connections()
                self.sync(client)
                backoff = 1.0
                can_idle = self.use_idle and b"IDLE" in client.capabilities()
                while not self.stop_event.is_set():
                    if can_idle:
                        self._wait_with_idle(client)
                    else:
                        self.stop_event.wait(self.poll_interval)
                        client.noop()
                    if not self.stop_event.is_set():
                        close_old_connections()  # a long-lived thread: drop stale connections
                        self.sync(client)
            except (*NETWORK_ERRORS, DatabaseError) as error:
                self._note_error(error)
                logger.warning(
                    "IMAP %s: %s; reconnecting in %.0f s", self.mailbox.address, error, backoff
                )
                close_old_connections()
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            finally:
                if client is not None:
                    _close(client)

    def _wait_with_idle(self, client: IMAPClient) -> None:
        """Waits in IDLE until the server reports new mail, a stop, or time to renew IDLE."""
        client.idle()
        try:
            # Mail that arrived between our last search and IDLE is announced
            # before the server's "+ idling"; imaplib files such untagged
            # responses away instead of handing them to idle_check().
            pending = getattr(client._imap, "untagged_responses", {})
            if pending.pop("EXISTS", None) or pending.pop("RECENT", None):
                return
            deadline = time.monotonic() + self.idle_renew_seconds
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                responses = client.idle_check(timeout=IDLE_SLICE_SECONDS)
                if any(_is_new_mail(response) for response in responses):
                    return
        finally:
            client.idle_done()

    # --- importing --------------------------------------------------------------

    def sync(self, client: IMAPClient) -> SyncResult:
        """Imports every message past the cursor, batch by batch."""
        mailbox = self.mailbox
        folder = mailbox.imap_folder or "INBOX"
        status = client.select_folder(folder)
        uidvalidity = int(status[b"UIDVALIDITY"])
        cursor, _ = ImapCursor.objects.get_or_create(mailbox=mailbox, folder=folder)
        if cursor.uidvalidity != uidvalidity:
            if cursor.uidvalidity is not None:
                logger.warning(
                    "IMAP %s %s: UIDVALIDITY changed %s -> %s; rescanning",
                    mailbox.address,
                    folder,
                    cursor.uidvalidity,
                    uidvalidity,
                )
            cursor.uidvalidity, cursor.last_uid = uidvalidity, 0
            cursor.save(update_fields=["uidvalidity", "last_uid"])
        uids = self._new_uids(client, cursor.last_uid)
        result = SyncResult()
        if cursor.last_uid == 0 and not uids:
            # A fresh cursor on a folder with nothing to import: start at its end.
            cursor.last_uid = max(int(status.get(b"UIDNEXT", 1)) - 1, 0)
        for batch in chunks(uids, self.batch_size):
            if self.stop_event.is_set():
                break
            imported, skipped = self._import_batch(client, batch)
            result.imported += len(imported)
            result.skipped += skipped
            self._after_import(client, imported)
            cursor.last_uid = max(batch)
            cursor.last_checked_at = timezone.now()
            cursor.last_error = ""
            cursor.save(update_fields=["last_uid", "last_checked_at", "last_error"])
            if self.on_imported is not None:
                self.on_imported(len(imported))
        cursor.last_checked_at = timezone.now()
        cursor.save(update_fields=["last_uid", "last_checked_at"])
        return result

    def _new_uids(self, client: IMAPClient, last_uid: int) -> list[int]:
        if last_uid:
            # "n:*" always matches the highest UID, even below n: filter again.
            found = client.search(["UID", f"{last_uid + 1}:*"])
        elif self.mailbox.imap_after_import == AfterImport.FLAG_SEEN:
            # First run on a mailbox people used before: what nobody has read yet.
            found = client.search(["UNSEEN"])
        else:
            # Moving or deleting after import: the folder is a queue; all of it is new.
            found = client.search(["NOT", "DELETED"])
        return sorted(int(uid) for uid in found if int(uid) > last_uid)

    def _import_batch(self, client: IMAPClient, batch: Sequence[int]) -> tuple[list[int], int]:
        """Stores each message of the batch; returns the UIDs stored and how many were skipped."""
        sizes = client.fetch(batch, ["RFC822.SIZE"])
        wanted = [uid for uid in batch if int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0)) > 0]
        too_big = [uid for uid in wanted if int(sizes[uid][b"RFC822.SIZE"]) > RAW_MESSAGE_MAX_BYTES]
        for uid in too_big:
            # Left in the folder, untouched, for a person to handle.
            logger.warning("IMAP %s: UID %s is over the size limit", self.mailbox.address, uid)
        wanted = [uid for uid in wanted if uid not in too_big]
        bodies = client.fetch(wanted, ["BODY.PEEK[]"]) if wanted else {}
        imported: list[int] = []
        skipped = len(batch) - len(wanted)
        for uid in wanted:
            raw = bodies.get(uid, {}).get(b"BODY[]")
            if not raw:
                skipped += 1  # expunged by someone else meanwhile
                continue
            try:
                receive_raw_message(mailbox=self.mailbox, raw=bytes(raw), source=InboundSource.IMAP)
            except ConciergeError as error:  # empty or oversized: leave it for a person
                logger.warning("IMAP %s UID %s refused: %s", self.mailbox.address, uid, error)
                skipped += 1
                continue
            imported.append(uid)
        return imported, skipped

    def _after_import(self, client: IMAPClient, uids: list[int]) -> None:
        """Flags, moves or deletes messages that are stored (committed) on our side."""
        if not uids:
            return
        action = self.mailbox.imap_after_import
        if action == AfterImport.MOVE and self.mailbox.imap_move_to_folder:
            if client.has_capability("MOVE"):
                client.move(uids, self.mailbox.imap_move_to_folder)
                return
            client.copy(uids, self.mailbox.imap_move_to_folder)
            action = AfterImport.DELETE
        if action == AfterImport.DELETE:
            client.delete_messages(uids)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                client.expunge()
            return
        client.add_flags(uids, [SEEN], silent=True)

    def _note_error(self, error: BaseException) -> None:
        try:
            ImapCursor.objects.filter(mailbox=self.mailbox).update(
                last_error=f"{type(error).__name__}: {error}"[:2000],
                last_checked_at=timezone.now(),
            )
        except DatabaseError:
            logger.warning("could not record the IMAP error of %s", self.mailbox.address)


def _is_new_mail(response: Any) -> bool:
    return (
        isinstance(response, tuple) and len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")
    )


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except (*NETWORK_ERRORS, AttributeError):
        try:
            client.shutdown()
        except (*NETWORK_ERRORS, AttributeError):
            logger.debug("IMAP connection already closed")
