"""Deflection: events, votes, suggestions, the request link and the self-service rate."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from concierge.core.errors import LimitExceeded, PermissionDenied
from concierge.knowledge import actions, services
from concierge.knowledge.models import Article, ArticleVote, EventKind, HelpEvent, HelpSession
from concierge.tickets.models import Ticket
from tests.conftest import signed_in_client
from tests.factories import TicketFactory
from tests.knowledge.helpers import make_article, make_structure

pytestmark = pytest.mark.django_db


@pytest.fixture
def article(admin_user, agent_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _, section = make_structure(admin_user)
        make_article(agent_user, section, title="Track your parcel", body="Use the tracking link.")
        return make_article(
            agent_user, section, title="Reset your password", body="Open settings, choose reset."
        )


def _event_token(page: str) -> str:
    match = re.search(r'data-help-event="([^"]+)"', page)
    assert match, "the page carries no event token"
    return match.group(1)


def _article_page(client: Client, article: Article, query: str = "") -> str:
    slug = article.translations.get().slug
    return client.get(f"/portal/help/articles/{article.pk}-{slug}/{query}").content.decode()


def test_article_view_is_recorded_once_per_session_from_the_page_token(article):
    client = Client()
    token = _event_token(_article_page(client, article))

    first = client.post("/portal/help/events/", {"token": token})
    again = client.post("/portal/help/events/", {"token": token})

    assert first.status_code == again.status_code == 200
    assert HelpEvent.objects.filter(kind=EventKind.VIEW, article=article).count() == 1
    assert Article.objects.get(pk=article.pk).view_count == 1
    assert HelpSession.objects.get().first_content_at is not None


def test_a_forged_event_token_is_refused_and_records_nothing(article):
    response = Client().post("/portal/help/events/", {"token": "kind:search:query:fake"})

    assert response.status_code == 400
    assert HelpEvent.objects.count() == 0 and HelpSession.objects.count() == 0


def test_search_is_recorded_with_its_query_and_the_result_count_shown(article, monkeypatch):
    # The plain database search: it finds nothing for nonsense (a semantic ranker may not).
    monkeypatch.setattr(services, "_search_service", lambda: None)
    client = Client()
    found_page = client.get("/portal/help/search/?q=Reset+password").content.decode()
    nothing_page = client.get("/portal/help/search/?q=zzqxv").content.decode()

    client.post("/portal/help/events/", {"token": _event_token(found_page)})
    client.post("/portal/help/events/", {"token": _event_token(nothing_page)})

    searches = {e.query: e.result_count for e in HelpEvent.objects.filter(kind=EventKind.SEARCH)}
    assert searches == {"reset password": 1, "zzqxv": 0}
    assert "1 result" in found_page and "0 results" in nothing_page


def test_suggestions_endpoint_returns_matching_published_articles(article, customer_user):
    client = signed_in_client(customer_user)

    response = client.get(
        "/portal/help/suggest/",
        {"subject": "I forgot my password", "description": "how do I reset it"},
        headers={"HX-Request": "true"},
    )
    short = client.get("/portal/help/suggest/", {"subject": "hi"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Reset your password" in page and "?via=suggestion" in page
    assert "Reset your password" not in short.content.decode()


def test_suggestion_click_is_recorded_as_a_click_and_a_view(article):
    client = Client()
    token = _event_token(_article_page(client, article, "?via=suggestion"))

    client.post("/portal/help/events/", {"token": token})

    kinds = sorted(HelpEvent.objects.values_list("kind", flat=True))
    assert kinds == [EventKind.SUGGESTION_CLICK, EventKind.VIEW]


def test_new_request_page_asks_for_suggestions_while_typing(customer_user):
    page = signed_in_client(customer_user).get("/portal/requests/new/").content.decode()

    assert 'hx-get="/portal/help/suggest/"' in page
    assert "delay:400ms" in page


def test_opening_a_request_links_it_to_the_help_session(article, customer_user):
    client = signed_in_client(customer_user)
    client.post("/portal/help/events/", {"token": _event_token(_article_page(client, article))})

    client.post("/portal/requests/new/", {"subject": "Still locked out", "description": "Help"})

    session = HelpSession.objects.get()
    ticket = Ticket.objects.get(subject="Still locked out")
    assert session.ticket_id == ticket.pk and session.ticket_created_at == ticket.created_at
    assert session.customer_id == customer_user.customer.pk


def test_one_vote_per_session_changing_it_does_not_add_one(article):
    client = Client()
    url = f"/portal/help/articles/{article.pk}/vote/"

    client.post(url, {"helpful": "no", "comment": "Missing the SSO case"})
    client.post(url, {"helpful": "yes"})
    Client().post(url, {"helpful": "no"})  # another visitor

    article.refresh_from_db()
    assert (article.helpful_count, article.unhelpful_count) == (1, 1)
    assert ArticleVote.objects.count() == 2
    assert ArticleVote.objects.filter(comment="Missing the SSO case", is_helpful=True).exists()


def test_votes_are_rate_limited_per_address(article, settings):
    url = f"/portal/help/articles/{article.pk}/vote/"
    for _ in range(actions.VOTES_PER_HOUR_PER_ADDRESS):
        Client().post(url, {"helpful": "yes"})

    refused = Client().post(url, {"helpful": "yes"}, headers={"HX-Request": "true"})

    assert refused.status_code == 429 and "at most 30 an hour" in refused.content.decode()
    assert ArticleVote.objects.count() == actions.VOTES_PER_HOUR_PER_ADDRESS


def test_vote_comment_limit_is_named(article):
    with pytest.raises(LimitExceeded, match="limit is 2000"):
        actions.vote(session_key="s1", article=article, is_helpful=False, comment="x" * 2001)


def _session(
    key: str,
    first_content_at: datetime | None,
    ticket_after: timedelta | None = None,
    channel: str = "help_center",
) -> None:
    session = HelpSession.objects.create(
        key=key, first_content_at=first_content_at, channel=channel
    )
    if ticket_after is not None and first_content_at is not None:
        ticket = TicketFactory()
        session.ticket = ticket
        session.ticket_created_at = first_content_at + ticket_after
        session.save()


def test_self_service_rate_per_day_on_crafted_sessions(admin_user):
    day_one = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    day_two = datetime(2026, 3, 3, 22, 0, tzinfo=UTC)
    _session("a", day_one)  # read, never asked: self-served
    _session("b", day_one, timedelta(hours=2))  # asked 2 h later: not self-served
    _session("c", day_one, timedelta(hours=30))  # asked after the 24 h window: self-served
    _session("d", day_one, timedelta(hours=-1))  # asked before reading: self-served
    _session("e", day_two, timedelta(hours=23, minutes=59))  # inside the window: not self-served
    _session("f", day_two)
    _session("g", None)  # never viewed help content: not counted

    rates = services.self_service_rate_by_day(
        user=admin_user, days=5, now=datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    )

    assert [(r.day.isoformat(), r.sessions, r.self_served) for r in rates] == [
        ("2026-03-02", 4, 3),
        ("2026-03-03", 2, 1),
    ]
    assert rates[0].rate == 0.75 and rates[0].is_complete and not rates[1].is_complete


def test_self_service_rate_per_channel(admin_user, client):
    now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    read = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    _session("portal-1", read)
    _session("portal-2", read, timedelta(hours=1))
    _session("chat-1", read, channel="chat")
    _session("chat-2", read, timedelta(hours=1), channel="chat")
    _session("chat-3", read, channel="chat")
    _session("chat-old", read - timedelta(days=40), channel="chat")  # before the period

    by_channel = services.self_service_by_channel(user=admin_user, days=5, now=now)

    assert [(r.channel, r.sessions, r.self_served) for r in by_channel] == [
        ("help_center", 2, 1),
        ("chat", 3, 2),
    ]
    chat_days = services.self_service_rate_by_day(user=admin_user, days=5, now=now, channel="chat")
    assert [(r.sessions, r.self_served) for r in chat_days] == [(3, 2)]


def test_the_reports_page_splits_the_rate_by_channel(admin_user):
    from django.utils import timezone

    from tests.conftest import signed_in_client

    read = timezone.now() - timedelta(hours=1)
    _session("portal-1", read)
    _session("chat-1", read, timedelta(minutes=5), channel="chat")
    client = signed_in_client(admin_user)

    page = client.get("/knowledge/reports/").content.decode()
    chat_only = client.get("/knowledge/reports/?channel=chat").content.decode()
    bogus = client.get("/knowledge/reports/?channel=<script>").status_code

    chat_row = '<tr data-channel="chat"><td>Chat widget</td><td>1</td><td>0</td><td>0%</td></tr>'
    assert chat_row in page
    assert "50%" in page and "of 2 visits" in page
    assert "of 1 visit (chat widget)" in chat_only and "0%" in chat_only
    assert bogus == 200  # an unknown channel shows every channel


def test_reports_are_for_admins_only(agent_user):
    with pytest.raises(PermissionDenied):
        services.self_service_rate_by_day(user=agent_user)
    with pytest.raises(PermissionDenied):
        services.top_searches(user=agent_user)


def test_reports_list_top_and_empty_searches_least_helpful_and_due_articles(
    article, admin_user, agent_user
):
    for key, query, count in (("s1", "refund", 2), ("s2", "refund", 1), ("s3", "fax", 0)):
        actions.record_event(
            session_key=key, kind=EventKind.SEARCH, query=query, result_count=count
        )
    actions.vote(session_key="s1", article=article, is_helpful=False)
    actions.update_article(
        actor=agent_user, article=article, changes={"review_due_on": "2020-01-01"}
    )

    assert [(s.query, s.count) for s in services.top_searches(user=admin_user)] == [
        ("refund", 2),
        ("fax", 1),
    ]
    assert [s.query for s in services.searches_without_results(user=admin_user)] == ["fax"]
    assert [a.pk for a in services.least_helpful_articles(user=admin_user)] == [article.pk]
    assert [a.pk for a in services.articles_due_for_review(user=admin_user)] == [article.pk]


def test_the_reports_page_shows_each_comment_with_its_articles_title(article, admin_user):
    from django.urls import reverse

    actions.vote(
        session_key="s1", article=article, is_helpful=False, comment="Says <b>nothing</b> on fees"
    )

    page = signed_in_client(admin_user).get(reverse("workspace:knowledge_reports")).content.decode()

    comments = page[page.index("Recent feedback comments") :]
    assert str(article.translations.get().title) in comments
    assert "Not helpful" in comments
    assert "Says &lt;b&gt;nothing&lt;/b&gt; on fees" in comments  # escaped, not markup


def test_a_search_with_no_result_leads_to_a_new_article_titled_after_it(admin_user):
    from tests.conftest import signed_in_client

    actions.record_event(
        session_key="s9", kind=EventKind.SEARCH, query="gift <cards>", result_count=0
    )
    client = signed_in_client(admin_user)

    reports = client.get("/knowledge/reports/").content.decode()
    new = client.get("/knowledge/articles/new/?title=gift+%3Ccards%3E").content.decode()

    assert "/knowledge/articles/new/?title=gift%20%3Ccards%3E" in reports
    assert 'value="gift &lt;cards&gt;"' in new
