"""The widget's HTTP endpoints: CORS for allowed origins only, sessions, uploads, offline."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from concierge.chat.identity import sign_identity
from concierge.chat.models import ChatChannel, ChatVisitor
from concierge.tickets.models import Channel, Ticket
from tests.chat.conftest import HOST_ORIGIN

pytestmark = pytest.mark.django_db


def call(
    client: Client, channel: ChatChannel, path: str, body: dict[str, Any] | None = None, *,
    origin: str = HOST_ORIGIN, token: str = "",
) -> Any:  # fmt: skip
    headers = {"Origin": origin} if origin else {}
    if token:
        headers["X-Concierge-Visitor"] = token
    url = f"/widget/{channel.public_key}/{path}"
    if body is None:
        return client.get(url, headers=headers)
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


def test_config_answers_allowed_origins_with_cors(
    client: Client, chat_channel: ChatChannel
) -> None:
    response = call(client, chat_channel, "config/")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == HOST_ORIGIN
    assert response.json()["title"] == "Chat with us"
    assert response.json()["online"] is False


@pytest.mark.parametrize("origin", ["https://evil.example.net", ""], ids=["other-site", "none"])
def test_origin_not_allowed_is_refused_without_cors(
    client: Client, chat_channel: ChatChannel, origin: str
) -> None:
    response = call(client, chat_channel, "session/", {}, origin=origin)

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert "allowed origins" in response.json()["message"]
    assert not ChatVisitor.objects.exists()


def test_same_origin_page_without_origin_header_is_checked_as_this_server(
    client: Client, chat_channel: ChatChannel
) -> None:
    # Chromium sends no Origin on a same-origin GET, only Sec-Fetch-Site.
    url = f"/widget/{chat_channel.public_key}/config/"
    same_origin = {"Sec-Fetch-Site": "same-origin"}
    assert client.get(url, headers=same_origin).status_code == 403  # not listed yet

    chat_channel.allowed_origins = [HOST_ORIGIN, "http://testserver"]
    chat_channel.save()

    assert client.get(url, headers=same_origin).status_code == 200
    assert client.get(url, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403


def test_subdomain_wildcard_origin(client: Client, chat_channel: ChatChannel) -> None:
    chat_channel.allowed_origins = ["https://*.example.org"]
    chat_channel.save()

    assert call(client, chat_channel, "config/", origin="https://eu.example.org").status_code == 200
    assert (
        call(client, chat_channel, "config/", origin="https://example.org.evil").status_code == 403
    )


def test_preflight_allows_the_visitor_header(client: Client, chat_channel: ChatChannel) -> None:
    response = client.options(
        f"/widget/{chat_channel.public_key}/messages/",
        headers={"Origin": HOST_ORIGIN, "Access-Control-Request-Method": "POST"},
    )

    assert response.status_code == 204
    assert "X-Concierge-Visitor" in response["Access-Control-Allow-Headers"]


def test_session_message_and_history(client: Client, chat_channel: ChatChannel) -> None:
    started = call(client, chat_channel, "session/", {"attributes": {"plan": "pro"}}).json()
    token = started["token"]

    sent = call(client, chat_channel, "messages/", {"body": "Hello!"}, token=token)

    assert sent.status_code == 201
    ticket = Ticket.objects.get(pk=sent.json()["ticket_id"])
    assert ticket.channel == Channel.CHAT
    again = call(client, chat_channel, "session/", {}, token=token).json()
    assert again["token"] == token
    assert again["conversations"][0]["entries"][0]["body_html"] == "<p>Hello!</p>\n"
    assert ChatVisitor.objects.get().attributes == {"plan": "pro"}


def test_session_with_a_bad_signature_is_refused_clearly(
    client: Client, chat_channel: ChatChannel
) -> None:
    identity = {"user_id": "42", "email": "a@example.com", "signature": "deadbeef"}

    response = call(client, chat_channel, "session/", {"identity": identity})

    assert response.status_code == 403
    assert response.json()["code"] == "identity_refused"
    assert "does not match" in response.json()["message"]
    assert not ChatVisitor.objects.exists()


def test_session_with_a_valid_signature_is_identified(
    client: Client, chat_channel: ChatChannel
) -> None:
    signature = sign_identity(chat_channel.identity_secret, user_id="42", email="a@example.com")
    identity = {"user_id": "42", "email": "a@example.com", "name": "Ann", "signature": signature}

    response = call(client, chat_channel, "session/", {"identity": identity})

    assert response.status_code == 200
    assert response.json()["visitor"] == {
        "name": "Ann",
        "email": "a@example.com",
        "identified": True,
    }


def test_messages_without_a_valid_token_are_refused(
    client: Client, chat_channel: ChatChannel
) -> None:
    response = call(client, chat_channel, "messages/", {"body": "hi"}, token="cv_forged")

    assert response.status_code == 403
    assert not Ticket.objects.exists()


def test_upload_sends_a_file_into_the_chat(client: Client, chat_channel: ChatChannel) -> None:
    token = call(client, chat_channel, "session/", {}).json()["token"]

    response = client.post(
        f"/widget/{chat_channel.public_key}/upload/",
        {"file": SimpleUploadedFile("photo.png", b"\x89PNG fake", content_type="image/png")},
        headers={"Origin": HOST_ORIGIN, "X-Concierge-Visitor": token},
    )

    assert response.status_code == 201
    [attachment] = response.json()["entry"]["attachments"]
    assert attachment["filename"] == "photo.png"
    download = client.get(attachment["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"\x89PNG fake"
    assert download["Content-Disposition"].startswith("attachment")


def test_upload_of_an_executable_type_is_refused(client: Client, chat_channel: ChatChannel) -> None:
    token = call(client, chat_channel, "session/", {}).json()["token"]

    response = client.post(
        f"/widget/{chat_channel.public_key}/upload/",
        {"file": SimpleUploadedFile("page.html", b"<script>", content_type="text/html")},
        headers={"Origin": HOST_ORIGIN, "X-Concierge-Visitor": token},
    )

    assert response.status_code == 422
    assert ".html" in response.json()["message"]
    assert not Ticket.objects.exists()


def test_offline_message_becomes_an_email_ticket(client: Client, chat_channel: ChatChannel) -> None:
    response = call(
        client, chat_channel, "offline/",
        {"name": "Olga", "email": "olga@example.com", "body": "Please call me"},
    )  # fmt: skip

    assert response.status_code == 201
    ticket = Ticket.objects.get(pk=response.json()["ticket_id"])
    assert ticket.channel == Channel.EMAIL
    assert ticket.requester.primary_email == "olga@example.com"


def test_transcript_request_over_http(
    client: Client, chat_channel: ChatChannel, django_capture_on_commit_callbacks: Any
) -> None:
    token = call(client, chat_channel, "session/", {}).json()["token"]
    ticket_id = call(client, chat_channel, "messages/", {"body": "Hi"}, token=token).json()[
        "ticket_id"
    ]

    with django_capture_on_commit_callbacks(execute=True):
        body = {"ticket_id": ticket_id, "email": "me@example.com"}
        response = call(client, chat_channel, "transcript/", body, token=token)

    assert response.status_code == 202
    assert mail.outbox[-1].to == ["me@example.com"]


def test_new_visitors_per_address_are_limited(
    client: Client, chat_channel: ChatChannel, settings: Any
) -> None:
    settings.CHAT_NEW_VISITORS_PER_ADDRESS = 2
    for _ in range(2):
        assert call(client, chat_channel, "session/", {}).status_code == 200

    response = call(client, chat_channel, "session/", {})

    assert response.status_code == 429
    assert "at most 2 every 60 seconds" in response.json()["message"]
    assert ChatVisitor.objects.count() == 2
