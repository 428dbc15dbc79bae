"""Help articles suggested in the widget before a chat starts, and the deflection they record."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from concierge.chat.identity import sign_identity
from concierge.chat.models import ChatChannel, ChatVisitor
from concierge.knowledge import services as knowledge_services
from concierge.knowledge.models import Article, EventKind, HelpEvent, HelpSession
from tests.chat.conftest import HOST_ORIGIN
from tests.chat.test_widget_http import call
from tests.knowledge.helpers import make_article, make_structure

pytestmark = pytest.mark.django_db


@pytest.fixture
def articles(
    admin_user: Any, agent_user: Any, django_capture_on_commit_callbacks: Any
) -> dict[str, Article]:
    with django_capture_on_commit_callbacks(execute=True):
        _, section = make_structure(admin_user)
        public = make_article(
            agent_user, section, title="Reset your password",
            body="Open settings, choose reset. ![map](/portal/help/files/1/map.png)",
        )  # fmt: skip
        internal = make_article(
            agent_user, section, title="Reset password override for agents",
            body="Agents only: reset a password from the admin console.", visibility="internal",
        )  # fmt: skip
        draft = make_article(
            agent_user, section, title="Password reset draft", body="Reset password draft.",
            status="draft",
        )  # fmt: skip
        # For signed-in customers: only visitors the host site identified read it.
        signed_in = make_article(
            agent_user, section, title="Reset the password of your team account",
            body="Signed-in customers: reset a password for your team.", visibility="signed_in",
        )  # fmt: skip
    return {"public": public, "internal": internal, "draft": draft, "signed_in": signed_in}


def _token(client: Client, channel: ChatChannel) -> str:
    return str(call(client, channel, "session/", {}).json()["token"])


def _identified_token(client: Client, channel: ChatChannel) -> str:
    """The token of a visitor the host site identified with a signed identity."""
    signature = sign_identity(channel.identity_secret, user_id="42", email="ann@example.com")
    identity = {"user_id": "42", "email": "ann@example.com", "name": "Ann", "signature": signature}
    return str(call(client, channel, "session/", {"identity": identity}).json()["token"])


def test_suggestions_offer_only_published_public_articles_with_cors(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article]
) -> None:
    token = _token(client, chat_channel)

    response = call(client, chat_channel, "suggestions/?q=how+do+I+reset+my+password", token=token)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == HOST_ORIGIN
    found = response.json()["articles"]
    assert [a["id"] for a in found] == [articles["public"].pk]
    assert found[0]["title"] == "Reset your password"
    assert found[0]["url"].startswith("http://testserver/portal/help/articles/")
    shown = HelpEvent.objects.get()
    assert (shown.kind, shown.article_id) == (EventKind.SUGGESTION_SHOWN, articles["public"].pk)
    # Being offered an article is not reading it: the self-service window has not started.
    assert HelpSession.objects.get().first_content_at is None


def test_suggestions_need_a_visitor_token_and_an_allowed_origin(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article]
) -> None:
    token = _token(client, chat_channel)

    without_token = call(client, chat_channel, "suggestions/?q=reset+password")
    other_site = call(
        client, chat_channel, "suggestions/?q=reset+password", token=token,
        origin="https://evil.example.net",
    )  # fmt: skip

    assert without_token.status_code == 403 and other_site.status_code == 403
    assert "Access-Control-Allow-Origin" not in other_site
    assert HelpEvent.objects.count() == 0


def test_suggestions_are_rate_limited_per_visitor(
    client: Client, chat_channel: ChatChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concierge.api import widget

    monkeypatch.setattr(widget, "SUGGESTIONS_PER_MINUTE", 2)
    token = _token(client, chat_channel)

    codes = [
        call(client, chat_channel, "suggestions/?q=password", token=token).status_code
        for _ in range(3)
    ]

    assert codes == [200, 200, 429]


def test_suggestions_follow_the_visitors_language(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article]
) -> None:
    branding = knowledge_services.help_center_settings()
    branding.locales = ["fr"]
    branding.save()
    token = _token(client, chat_channel)

    chosen = call(client, chat_channel, "suggestions/?q=reset+password&lang=fr", token=token)
    browser = client.get(
        f"/widget/{chat_channel.public_key}/suggestions/?q=reset+password",
        headers={"Origin": HOST_ORIGIN, "X-Concierge-Visitor": token, "Accept-Language": "fr-FR"},
    )
    unknown = call(client, chat_channel, "suggestions/?q=reset+password&lang=ja", token=token)

    assert (chosen.json()["locale"], browser.json()["locale"]) == ("fr", "fr")
    # Not offered: the channel's language (en), and the article in its own language.
    assert unknown.json()["locale"] == "en"
    assert unknown.json()["articles"][0]["title"] == "Reset your password"


def test_opening_a_suggestion_records_a_click_and_a_view_and_returns_the_article(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article]
) -> None:
    token = _token(client, chat_channel)
    public = articles["public"]

    response = call(client, chat_channel, f"articles/{public.pk}/?via=suggestion", token=token)
    call(client, chat_channel, f"articles/{public.pk}/?via=suggestion", token=token)

    assert response.status_code == 200
    data = response.json()
    assert data["title"] == "Reset your password"
    # Root-relative images become absolute: the widget runs on the customer's site.
    assert 'src="http://testserver/portal/help/files/1/map.png"' in data["body_html"]
    kinds = sorted(HelpEvent.objects.values_list("kind", flat=True))
    assert kinds == [EventKind.SUGGESTION_CLICK, EventKind.VIEW]
    assert HelpSession.objects.get().first_content_at is not None
    assert Article.objects.get(pk=public.pk).view_count == 1


def test_an_identified_visitor_is_offered_and_reads_articles_for_signed_in_customers(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article]
) -> None:
    """The host site vouched for who they are, as the portal's sign-in does."""
    anonymous = _token(client, chat_channel)
    identified = _identified_token(client, chat_channel)
    question = "suggestions/?q=reset+the+password+of+my+team+account"
    signed_in = articles["signed_in"]

    offered_anonymous = call(client, chat_channel, question, token=anonymous).json()["articles"]
    offered_identified = call(client, chat_channel, question, token=identified).json()["articles"]
    read = call(client, chat_channel, f"articles/{signed_in.pk}/", token=identified)
    refused = call(client, chat_channel, f"articles/{signed_in.pk}/", token=anonymous)

    assert signed_in.pk not in [a["id"] for a in offered_anonymous]
    assert signed_in.pk in [a["id"] for a in offered_identified]
    # Still never an agents-only article or a draft.
    assert {a["id"] for a in offered_identified} <= {articles["public"].pk, signed_in.pk}
    assert read.status_code == 200
    assert read.json()["title"] == "Reset the password of your team account"
    assert refused.status_code == 404


@pytest.mark.parametrize("which", ["internal", "draft"])
def test_an_identified_visitor_still_cannot_read_drafts_or_agents_only_articles(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article], which: str
) -> None:
    token = _identified_token(client, chat_channel)

    response = call(client, chat_channel, f"articles/{articles[which].pk}/", token=token)

    assert response.status_code == 404


def test_a_visitor_who_signed_out_of_the_host_site_loses_signed_in_articles(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article]
) -> None:
    """Without the signed identity the kept token starts an anonymous visitor (chat.actions)."""
    identified = _identified_token(client, chat_channel)
    after_sign_out = call(client, chat_channel, "session/", {}, token=identified).json()["token"]

    response = call(
        client, chat_channel, f"articles/{articles['signed_in'].pk}/", token=after_sign_out
    )

    assert after_sign_out != identified
    assert response.status_code == 404


@pytest.mark.parametrize("which", ["internal", "draft", "signed_in"])
def test_unpublished_or_internal_articles_cannot_be_read_through_the_widget(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article], which: str
) -> None:
    token = _token(client, chat_channel)

    response = call(client, chat_channel, f"articles/{articles[which].pk}/", token=token)

    assert response.status_code == 404
    assert HelpEvent.objects.count() == 0


def test_a_chat_opened_after_reading_a_suggestion_is_not_self_service(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article], admin_user: Any
) -> None:
    token = _token(client, chat_channel)
    call(client, chat_channel, f"articles/{articles['public'].pk}/?via=suggestion", token=token)

    sent = call(client, chat_channel, "messages/", {"body": "Still stuck"}, token=token)

    session = HelpSession.objects.get()
    assert session.ticket_id == sent.json()["ticket_id"]
    day = knowledge_services.self_service_rate_by_day(user=admin_user, days=1)[0]
    assert (day.sessions, day.self_served) == (1, 0)


def test_a_visitor_who_reads_and_leaves_counts_as_self_served(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article], admin_user: Any
) -> None:
    token = _token(client, chat_channel)

    call(client, chat_channel, f"articles/{articles['public'].pk}/?via=suggestion", token=token)

    day = knowledge_services.self_service_rate_by_day(user=admin_user, days=1)[0]
    assert (day.sessions, day.self_served) == (1, 1)
    # Counted as the widget's, apart from the help center's pages.
    (chat,) = knowledge_services.self_service_by_channel(user=admin_user, days=1)
    assert (chat.channel, chat.sessions, chat.self_served) == ("chat", 1, 1)
    assert (
        knowledge_services.self_service_rate_by_day(user=admin_user, days=1, channel="help_center")
        == []
    )


def test_an_offline_message_after_reading_is_linked_to_the_help_session(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article]
) -> None:
    token = _token(client, chat_channel)
    call(client, chat_channel, f"articles/{articles['public'].pk}/?via=suggestion", token=token)

    sent = call(
        client, chat_channel, "offline/",
        {"email": "vera@example.com", "body": "Please call me back"}, token=token,
    )  # fmt: skip

    assert HelpSession.objects.get().ticket_id == sent.json()["ticket_id"]


def test_a_new_help_session_starts_once_the_last_ones_window_is_over(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article]
) -> None:
    token = _token(client, chat_channel)
    call(client, chat_channel, f"articles/{articles['public'].pk}/?via=suggestion", token=token)
    HelpSession.objects.update(first_content_at=timezone.now() - timedelta(hours=25))

    call(client, chat_channel, f"articles/{articles['public'].pk}/?via=suggestion", token=token)

    assert HelpSession.objects.count() == 2
    assert ChatVisitor.objects.get().help_session_key == HelpSession.objects.latest("pk").key


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


def test_images_and_files_of_a_signed_in_article_reach_the_widget_by_signed_links(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article], agent_user: Any
) -> None:
    """The help center's own file address needs a portal session the host page lacks."""
    from concierge.knowledge import actions as knowledge_actions
    from concierge.tickets.actions import NewAttachment

    signed_in = articles["signed_in"]
    image, guide = knowledge_actions.add_attachments(
        actor=agent_user, article=signed_in,
        attachments=[NewAttachment("shot.png", PNG, "image/png"),
                     NewAttachment("guide.pdf", b"%PDF", "application/pdf")],
    )  # fmt: skip
    knowledge_actions.update_article(
        actor=agent_user, article=signed_in,
        changes={"body": f"![shot](/portal/help/files/{image.pk}/shot.png)\n\n"
                         f"[The guide](/portal/help/files/{guide.pk}/guide.pdf)"},
    )  # fmt: skip
    token = _identified_token(client, chat_channel)

    body = call(client, chat_channel, f"articles/{signed_in.pk}/", token=token).json()["body_html"]
    links = re.findall(r'(?:src|href)="http://testserver(/widget/help-files/[^"]+/)"', body)
    shown = Client().get(links[0])
    downloaded = Client().get(links[1])
    forged = Client().get(links[0].replace("help-files/", "help-files/x"))

    assert "/portal/help/files/" not in body and len(links) == 2
    assert shown.status_code == 200 and shown["Content-Type"] == "image/png"
    assert b"".join(shown.streaming_content) == PNG
    assert "attachment" not in shown.get("Content-Disposition", "")
    assert shown["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert downloaded["Content-Disposition"].startswith("attachment")
    assert forged.status_code == 404
    # Made agents-only since: the links it handed out stop working.
    knowledge_actions.update_article(
        actor=agent_user, article=signed_in, changes={"visibility": "internal"}
    )
    assert Client().get(links[0]).status_code == 404


def test_a_public_articles_files_keep_their_help_center_address_in_the_widget(
    client: Client, chat_channel: ChatChannel, articles: dict[str, Article]
) -> None:
    token = _identified_token(client, chat_channel)

    body = call(client, chat_channel, f"articles/{articles['public'].pk}/", token=token).json()

    assert 'src="http://testserver/portal/help/files/1/map.png"' in body["body_html"]
