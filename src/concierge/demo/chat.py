"""The demo's chat channel: the widget on the demo host page, answered from the inbox."""

from __future__ import annotations

from urllib.parse import urlsplit

from concierge.chat.models import ChatChannel

DEMO_CHANNEL_NAME = "Website chat"


def ensure_demo_chat_channel(site_url: str) -> str:
    """Creates the demo chat channel once (kept on later runs); returns the line to print.

    Its allowed origins are the demo server under both loopback names, so the
    demo host page works whichever one the browser uses.
    """
    parts = urlsplit(site_url)
    port = f":{parts.port}" if parts.port else ""
    origins = [f"{parts.scheme}://{host}{port}" for host in ("127.0.0.1", "localhost")]
    if parts.hostname not in ("127.0.0.1", "localhost"):
        origins.insert(0, f"{parts.scheme}://{parts.netloc}")
    channel, created = ChatChannel.objects.get_or_create(
        name=DEMO_CHANNEL_NAME,
        defaults={
            "allowed_origins": origins,
            "title": "Acme support",
            "greeting": "Hi! Ask us anything about your order, returns or our gear.",
            "idle_timeout_minutes": 30,
        },
    )
    if not created:
        channel.allowed_origins = sorted(set(channel.allowed_origins) | set(origins))
        channel.save(update_fields=["allowed_origins", "updated_at"])
    return (
        f"Chat widget demo: {site_url.rstrip('/')}/chat/demo-host/ "
        "(sign in as the admin first; the agent answers in the inbox)"
    )
