"""The agent's own profile and personal API tokens."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from concierge.accounts.actions import authenticate_api_token
from concierge.accounts.models import ApiToken
from tests.conftest import signed_in_client

pytestmark = pytest.mark.django_db


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "blue").save(buffer, format="PNG")
    return buffer.getvalue()


def test_agent_updates_profile_with_avatar(agent_user):
    client = signed_in_client(agent_user)

    response = client.post(
        "/profile/",
        {
            "name": "Alan T.",
            "signature": "Cheers, Alan",
            "availability": "away",
            "notify_on_mention": "on",
            "avatar": SimpleUploadedFile("me.png", png_bytes(), content_type="image/png"),
        },
    )

    assert response["Location"] == "/profile/"
    agent_user.refresh_from_db()
    assert (agent_user.name, agent_user.signature, agent_user.availability) == (
        "Alan T.",
        "Cheers, Alan",
        "away",
    )
    assert (agent_user.notify_on_assignment, agent_user.notify_on_mention) == (False, True)
    avatar = client.get(f"/avatars/{agent_user.pk}/")
    assert avatar.status_code == 200
    assert avatar["Content-Type"] == "image/png"


def test_a_non_image_avatar_is_refused(agent_user):
    response = signed_in_client(agent_user).post(
        "/profile/",
        {
            "name": "Alan",
            "availability": "online",
            "avatar": SimpleUploadedFile("x.png", b"<svg onload=alert(1)>"),
        },
    )

    assert response.status_code == 400
    agent_user.refresh_from_db()
    assert not agent_user.avatar


def test_availability_switch_in_the_header(agent_user):
    response = signed_in_client(agent_user).post(
        "/profile/availability/", {"availability": "offline", "next": "/inbox/all-open/"}
    )

    assert response["Location"] == "/inbox/all-open/"
    agent_user.refresh_from_db()
    assert agent_user.availability == "offline"


def test_token_secret_is_shown_once_and_works(agent_user):
    client = signed_in_client(agent_user)

    created = client.post("/profile/tokens/", {"name": "Reporting"})
    secret = (
        created.content.decode()
        .split('id="new-token" class="token-secret" type="text" readonly value="')[1]
        .split('"')[0]
    )
    later = client.get("/profile/").content.decode()

    assert created["Cache-Control"] == "no-store"
    assert authenticate_api_token(secret) == agent_user
    assert secret not in later
    assert "Reporting" in later and ApiToken.objects.get().prefix in later


def test_token_is_revoked(agent_user):
    client = signed_in_client(agent_user)
    client.post("/profile/tokens/", {"name": "Old"})
    token = ApiToken.objects.get()

    client.post(f"/profile/tokens/{token.pk}/revoke/")

    token.refresh_from_db()
    assert token.revoked_at is not None


def test_agent_cannot_revoke_someone_elses_token(agent_user, admin_user):
    signed_in_client(admin_user).post("/profile/tokens/", {"name": "Admin token"})
    token = ApiToken.objects.get()

    response = signed_in_client(agent_user).post(f"/profile/tokens/{token.pk}/revoke/")

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
