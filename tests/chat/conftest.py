"""Fixtures for live chat: a channel on a known origin, visitors with tokens, sockets."""

from __future__ import annotations

from typing import Any

import pytest

from concierge.chat import actions
from concierge.chat.models import ChatChannel, ChatVisitor

HOST_ORIGIN = "https://shop.example.com"


@pytest.fixture
def chat_channel(db: None) -> ChatChannel:
    return ChatChannel.objects.create(
        name="Shop chat", allowed_origins=[HOST_ORIGIN], idle_timeout_minutes=30
    )


def new_visitor(channel: ChatChannel, **kwargs: Any) -> tuple[ChatVisitor, str]:
    return actions.start_visitor(channel=channel, **kwargs)


@pytest.fixture
def visitor(chat_channel: ChatChannel) -> tuple[ChatVisitor, str]:
    return new_visitor(chat_channel, name="Vera Visitor")
