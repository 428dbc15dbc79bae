"""Clients for API tests: a personal token in the Authorization header."""

from __future__ import annotations

from typing import Any

from django.test import Client

from concierge.accounts.actions import create_api_token


def token_for(user: Any) -> str:
    _token, secret = create_api_token(actor=user, name="tests")
    return secret


def api_client(user: Any) -> Client:
    """A client that authenticates every request with a fresh token of ``user``."""
    return Client(headers={"Authorization": f"Bearer {token_for(user)}"})
