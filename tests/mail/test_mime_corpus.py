"""Every message of the shared MIME corpus becomes an entry or a quarantine item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from concierge.mail.models import InboundStatus, Mailbox
from tests.mail.messages import deliver


@pytest.mark.django_db
def test_shared_mime_corpus_never_raises(shared_data: Path, mailbox: Mailbox) -> None:
    corpus = shared_data / "email" / "mime"
    handled = {InboundStatus.PROCESSED, InboundStatus.QUARANTINED, InboundStatus.BOUNCE,
               InboundStatus.IGNORED}  # fmt: skip
    mailbox.max_messages_per_sender_per_hour = 10_000
    mailbox.save()
    for line in (corpus / "manifest.jsonl").read_text().splitlines():
        item = json.loads(line)
        message = deliver(mailbox, (corpus / item["file"]).read_bytes())
        assert message.status in handled, item["file"]
        if message.status == InboundStatus.QUARANTINED:
            assert message.error, item["file"]
        if message.status == InboundStatus.PROCESSED:
            assert message.ticket_id is not None, item["file"]
