"""The widget bundle's size budget, and the admins' chat channel pages."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from concierge.chat.models import ChatChannel
from tests.conftest import signed_in_client

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "src" / "concierge" / "static" / "concierge" / "widget.js"
STYLES = REPO / "src" / "concierge" / "static" / "concierge" / "widget.css"
BUDGET_BYTES = 50 * 1024


@pytest.fixture(scope="module")
def built_bundle() -> Path:
    """Builds the widget with esbuild (as ./concierge setup does) so the size is today's."""
    npm = shutil.which("npm")
    if npm is None or not (REPO / "node_modules" / "esbuild").exists():
        if BUNDLE.exists():
            return BUNDLE
        pytest.skip("npm/esbuild not installed and no built widget: run ./concierge setup")
    subprocess.run([npm, "run", "--silent", "build:widget"], cwd=REPO, check=True, timeout=120)  # noqa: S603
    return BUNDLE


def test_widget_bundle_is_under_50_kb_gzipped(built_bundle: Path) -> None:
    script = gzip.compress(built_bundle.read_bytes(), compresslevel=9)
    styles = gzip.compress(STYLES.read_bytes(), compresslevel=9)

    assert len(script) + len(styles) < BUDGET_BYTES, (
        f"widget.js + widget.css are {len(script) + len(styles)} bytes gzipped; "
        f"the budget is {BUDGET_BYTES}"
    )


def test_widget_bundle_uses_no_eval_and_renders_in_a_shadow_root(built_bundle: Path) -> None:
    source = built_bundle.read_text()

    assert "attachShadow" in source
    assert "eval(" not in source and "new Function" not in source


def _channel_form(**overrides: str) -> dict[str, str]:
    return {
        "name": "Website", "is_active": "on", "allowed_origins": "https://www.example.com\n",
        "title": "Chat with us", "greeting": "Hello!", "offline_message": "We are away.",
        "primary_color": "#2f5bea", "text_color": "#ffffff", "language": "en",
        "idle_timeout_minutes": "30", **overrides,
    }  # fmt: skip


def test_admin_creates_a_channel_and_sees_the_secret_once(admin_user: Any) -> None:
    client = signed_in_client(admin_user)

    created = client.post("/settings/chat/new/", _channel_form())

    channel = ChatChannel.objects.get()
    assert created.status_code == 200
    assert channel.identity_secret in created.content.decode()
    assert channel.public_key in created.content.decode()
    assert created["Cache-Control"] == "no-store"
    assert channel.allowed_origins == ["https://www.example.com"]
    page = client.get(f"/settings/chat/{channel.pk}/")
    assert channel.identity_secret not in page.content.decode()
    assert channel.public_key in page.content.decode()


def test_regenerating_the_secret_replaces_it(admin_user: Any) -> None:
    client = signed_in_client(admin_user)
    channel = ChatChannel.objects.create(name="Website", allowed_origins=["https://a.example"])
    old = channel.identity_secret

    response = client.post(f"/settings/chat/{channel.pk}/secret/")

    channel.refresh_from_db()
    assert channel.identity_secret != old
    assert channel.identity_secret in response.content.decode()


def test_invalid_origin_is_refused_with_a_clear_error(admin_user: Any) -> None:
    client = signed_in_client(admin_user)

    response = client.post(
        "/settings/chat/new/", _channel_form(allowed_origins="https://ok.example\nnot a site")
    )

    assert response.status_code == 422
    assert "not a site is not an origin" in response.content.decode()
    assert not ChatChannel.objects.exists()


def test_agents_cannot_open_chat_settings(agent_user: Any) -> None:
    assert signed_in_client(agent_user).get("/settings/chat/").status_code == 403


def test_demo_host_page_embeds_the_widget_for_admins(admin_user: Any, client: Client) -> None:
    channel = ChatChannel.objects.create(name="Website", allowed_origins=["http://testserver"])

    page = signed_in_client(admin_user).get("/chat/demo-host/?identify=1").content.decode()

    assert f'data-concierge-key="{channel.public_key}"' in page
    assert "demo-user-1" in page
    assert client.get("/chat/demo-host/").status_code == 404
