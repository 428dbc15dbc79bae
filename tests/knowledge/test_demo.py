"""The demo help center loads once, through the real actions, and answers in three languages."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from concierge.demo import generator
from concierge.demo.knowledge import ensure_demo_help_center
from concierge.knowledge.models import Article, ArticleTranslation, HelpCenterSettings
from concierge.knowledge.services import search_articles
from tests.factories import make_admin

pytestmark = pytest.mark.django_db


def test_demo_help_center_loads_once():
    make_admin(email=generator.ADMIN_EMAIL)

    first = ensure_demo_help_center()
    again = ensure_demo_help_center()

    assert "articles published" in first and "already loaded" in again
    assert Article.objects.filter(status="published", visibility="public").count() == 11
    assert Article.objects.filter(visibility="internal").count() == 1
    assert Article.objects.filter(status="published", visibility="signed_in").count() == 1
    assert ArticleTranslation.objects.filter(locale="fr").count() == 2
    assert ArticleTranslation.objects.filter(locale="es").count() == 3
    assert HelpCenterSettings.objects.get().locales == ["fr", "es"]


def test_demo_questions_in_spanish_and_french_find_the_right_article_in_their_language(
    django_capture_on_commit_callbacks,
):
    make_admin(email=generator.ADMIN_EMAIL)
    with django_capture_on_commit_callbacks(execute=True):  # runs the search indexing tasks
        ensure_demo_help_center()

    def first_title(question: str, locale: str) -> str:
        hits = search_articles(user=AnonymousUser(), query=question, locale=locale)
        assert hits, question
        return str(hits[0].article.text.title)  # the translation the visitor reads

    # The question's words are not the article's ("dinero", not "reembolso").
    assert first_title("Quiero que me devuelvan el dinero", "es") == "¿Cómo obtengo un reembolso?"
    assert first_title("No puedo entrar, olvidé mi contraseña", "es") == "Restablecer tu contraseña"
    assert first_title("Je veux être remboursé", "fr") == "Comment obtenir un remboursement ?"


def test_demo_help_center_activity_fills_the_reports_once(django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from concierge.demo.knowledge import ensure_demo_help_center_activity
    from concierge.knowledge import services
    from concierge.knowledge.models import HelpSession
    from concierge.tickets.models import Ticket
    from tests.factories import TicketFactory

    admin = make_admin(email=generator.ADMIN_EMAIL)
    with django_capture_on_commit_callbacks(execute=True):
        ensure_demo_help_center()
    now = timezone.now()
    for hours in range(0, 10 * 24, 6):  # a request every six hours over those days
        ticket = TicketFactory()
        Ticket.objects.filter(pk=ticket.pk).update(created_at=now - timedelta(hours=hours))

    # Ten days, not the demo's month: the same code, a third of the visits to record.
    first = ensure_demo_help_center_activity(days=10)
    again = ensure_demo_help_center_activity(days=10)

    assert "visits over 10 days" in first and "already" in again
    days = services.self_service_rate_by_day(user=admin)
    assert len(days) >= 9
    # Every visit that read help counts (a chat visit only shown suggestions does not).
    read = HelpSession.objects.filter(first_content_at__isnull=False).count()
    assert sum(day.sessions for day in days) == read
    by_channel = {row.channel: row for row in services.self_service_by_channel(user=admin)}
    assert set(by_channel) == {"help_center", "chat"}
    assert 0 < by_channel["chat"].sessions < by_channel["help_center"].sessions
    rates = [day.rate for day in days if day.rate is not None]
    # Some visits went on to open a request, most did not.
    assert 0.5 < sum(day.self_served for day in days) / sum(day.sessions for day in days) < 0.95
    assert min(rates) < 1.0
    assert services.top_searches(user=admin)
    assert services.least_helpful_articles(user=admin)
    # Some articles are already due for review, others only next week.
    due = services.articles_due_for_review(user=admin)
    assert due
    assert all(article.review_due_on <= now.date() for article in due)
    assert Article.objects.filter(review_due_on__gt=now.date()).exists()


def test_demo_activity_indexes_every_published_article_before_the_worker_does():
    """The worker first works through the load's backlog: readers of agents-only and
    signed-in articles must not wait behind it for theirs to be searchable."""
    from concierge.demo.knowledge import ensure_demo_help_center_activity
    from concierge.search.models import SearchDocument

    make_admin(email=generator.ADMIN_EMAIL)
    ensure_demo_help_center()  # its indexing tasks never run here (no on-commit callbacks)
    assert not SearchDocument.objects.filter(kind="article").exists()

    ensure_demo_help_center_activity(days=3)  # a few visits are enough to index first

    published = set(Article.objects.filter(status="published").values_list("pk", flat=True))
    indexed = SearchDocument.objects.filter(kind="article")
    assert set(indexed.values_list("object_id", flat=True)) == published
    assert set(indexed.values_list("audience", flat=True)) == {"public", "signed_in", "staff"}


def test_demo_flags_reach_the_articles_owner_once(django_capture_on_commit_callbacks):
    from concierge.automation.models import AgentNotification
    from concierge.demo.knowledge import ensure_demo_article_flags
    from concierge.knowledge.models import ArticleFlag
    from tests.factories import make_agent

    admin = make_admin(email=generator.ADMIN_EMAIL)
    make_agent(email="agent1@demo.test")
    ensure_demo_help_center()

    with django_capture_on_commit_callbacks(execute=True):
        first = ensure_demo_article_flags()
    again = ensure_demo_article_flags()

    assert "2 raised" in first and "already" in again
    assert ArticleFlag.objects.filter(resolved_at__isnull=True).count() == 2
    assert AgentNotification.objects.filter(user=admin).count() == 2


def test_the_demo_customer_follows_an_article_and_a_section_once():
    from concierge.demo.knowledge import ensure_demo_following
    from concierge.knowledge.models import HelpSubscription
    from tests.factories import make_customer_user

    make_admin(email=generator.ADMIN_EMAIL)
    ensure_demo_help_center()
    customer = make_customer_user(email=generator.CUSTOMER_EMAIL)

    first, again = ensure_demo_following(), ensure_demo_following()

    assert "follows an article and a section" in first and "already" in again
    assert HelpSubscription.objects.filter(user=customer).count() == 2
