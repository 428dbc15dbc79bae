from __future__ import annotations

from collections.abc import Iterator

import pytest

from concierge.mail.models import Mailbox
from tests.mail.real_servers import Dovecot, SmtpSink, start_dovecot, start_smtp_sink


@pytest.fixture
def mailbox(db: None) -> Mailbox:
    return Mailbox.objects.create(name="Acme support", address="help@acme.test")


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    """Dovecot on a free loopback port with a throwaway maildir store (skips when missing)."""
    server = start_dovecot()
    yield server
    server.stop()


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Dovecot:
    return dovecot_server


@pytest.fixture(scope="session")
def smtp_sink_server() -> Iterator[SmtpSink]:
    sink = start_smtp_sink()
    yield sink
    sink.controller.stop()


@pytest.fixture
def smtp_sink(smtp_sink_server: SmtpSink) -> SmtpSink:
    """An aiosmtpd server capturing what we send, emptied for each test."""
    smtp_sink_server.reset()
    return smtp_sink_server
