from __future__ import annotations

import pytest

from concierge.mail.models import Mailbox


@pytest.fixture
def mailbox(db: None) -> Mailbox:
    return Mailbox.objects.create(name="Acme support", address="help@acme.test")
