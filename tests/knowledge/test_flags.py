"""Flagging an article for an update while answering, and resolving the flag."""

from __future__ import annotations

from typing import Any

import pytest

from concierge.core.errors import LimitExceeded, PermissionDenied, ValidationFailed
from concierge.knowledge import actions, services
from concierge.knowledge.models import ArticleFlag
from tests.conftest import signed_in_client
from tests.factories import TicketFactory
from tests.knowledge.helpers import make_article, make_structure

pytestmark = pytest.mark.django_db


@pytest.fixture
def article(admin_user: Any, agent_user: Any) -> Any:
    _, section = make_structure(admin_user)
    return make_article(agent_user, section, title="Refunds", body="Refunds take 5 days.")


def test_an_agent_flags_from_a_ticket_and_the_owner_finds_it_everywhere(
    article: Any, agent_user: Any, admin_user: Any, light_agent_user: Any
) -> None:
    ticket = TicketFactory(subject="Refund late")
    light = signed_in_client(light_agent_user)  # may not edit, may flag

    flagged = light.post(
        f"/knowledge/articles/{article.pk}/flags/",
        {"note": "Refunds take <b>10</b> days now.", "ticket_id": ticket.pk},
    )

    assert flagged.status_code == 302 and flagged["Location"].endswith("#flags")
    flag = ArticleFlag.objects.get()
    assert (flag.flagged_by, flag.ticket, flag.is_open) == (light_agent_user, ticket, True)
    editor = signed_in_client(agent_user)
    page = editor.get(f"/knowledge/articles/{article.pk}/").content.decode()
    assert "Refunds take &lt;b&gt;10&lt;/b&gt; days now." in page  # escaped
    assert f'href="/tickets/{ticket.pk}/"' in page and "1 open" in page
    listed = editor.get("/knowledge/?flagged=1").content.decode()
    assert "Refunds" in listed and "1 flag" in listed
    reports = signed_in_client(admin_user).get("/knowledge/reports/").content.decode()
    assert "Flagged for an update" in reports and "1 open flag" in reports
    # A light agent cannot resolve; a full agent can, and the list empties.
    assert light.post(f"/knowledge/flags/{flag.pk}/resolve/").status_code == 403
    assert editor.post(f"/knowledge/flags/{flag.pk}/resolve/").status_code == 302
    flag.refresh_from_db()
    assert flag.resolved_by == agent_user and not flag.is_open
    assert "Refunds" not in editor.get("/knowledge/?flagged=1").content.decode()
    assert [a.pk for a in services.flagged_articles(user=admin_user)] == []


def test_a_flag_needs_a_note_within_the_limit(article: Any, agent_user: Any) -> None:
    with pytest.raises(ValidationFailed):
        actions.flag_article(actor=agent_user, article=article, note="   ")
    with pytest.raises(LimitExceeded, match="limit is 2000 characters"):
        actions.flag_article(actor=agent_user, article=article, note="x" * 2001)
    client = signed_in_client(agent_user)
    response = client.post(f"/knowledge/articles/{article.pk}/flags/", {"note": ""}, follow=True)
    assert "Say what needs changing." in response.content.decode()
    assert not ArticleFlag.objects.exists()


def test_open_flags_per_article_are_bounded(
    article: Any, agent_user: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(actions, "OPEN_FLAGS_PER_ARTICLE", 2)
    for _ in range(2):
        actions.flag_article(actor=agent_user, article=article, note="Old.")

    with pytest.raises(LimitExceeded, match="2 open flags, the limit"):
        actions.flag_article(actor=agent_user, article=article, note="Old.")


def test_customers_neither_flag_nor_read_flags(article: Any, customer_user: Any) -> None:
    with pytest.raises(PermissionDenied):
        actions.flag_article(actor=customer_user, article=article, note="Wrong.")
    with pytest.raises(PermissionDenied):
        services.article_flags(user=customer_user, article=article)
    assert not hasattr(services.list_articles(user=customer_user).first(), "open_flags")


def test_the_composer_picker_offers_to_flag_with_the_ticket(
    admin_user: Any, agent_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # indexed for the picker
        _, section = make_structure(admin_user)
        article = make_article(agent_user, section, title="Refunds", body="Refunds take 5 days.")
    ticket = TicketFactory()
    client = signed_in_client(agent_user)

    results = client.get(f"/knowledge/composer-search/?kb_q=refunds&ticket={ticket.pk}")

    assert f"/knowledge/articles/{article.pk}/?ticket={ticket.pk}#flags" in results.content.decode()
    form = client.get(f"/knowledge/articles/{article.pk}/?ticket={ticket.pk}").content.decode()
    assert f'name="ticket_id" value="{ticket.pk}"' in form


def test_the_articles_owner_is_notified_and_the_notice_opens_the_flags(
    admin_user: Any, agent_user: Any, light_agent_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from concierge.automation.models import AgentNotification

    _, section = make_structure(admin_user)
    article = make_article(agent_user, section, title="Refunds", owner_id=agent_user.pk)

    with django_capture_on_commit_callbacks(execute=True):
        actions.flag_article(actor=light_agent_user, article=article, note="Now 10 days.")
        actions.flag_article(actor=agent_user, article=article, note="Own note.")  # no self-notice

    (notice,) = AgentNotification.objects.all()
    assert notice.user == agent_user and notice.ticket is None
    assert "flagged “Refunds” for an update: Now 10 days." in notice.message
    opened = signed_in_client(agent_user).post(f"/notifications/{notice.pk}/open/")
    assert opened["Location"] == f"/knowledge/articles/{article.pk}/#flags"


def test_the_keeper_is_emailed_the_note_with_links_into_the_workspace(
    admin_user: Any, agent_user: Any, light_agent_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.core import mail

    _, section = make_structure(admin_user)
    article = make_article(agent_user, section, title="Refunds", owner_id=agent_user.pk)
    ticket = TicketFactory(subject="Refund late")

    with django_capture_on_commit_callbacks(execute=True):
        actions.flag_article(
            actor=light_agent_user, article=article, note="Now 10 days.", ticket=ticket
        )
        actions.flag_article(actor=agent_user, article=article, note="Own note.")  # no email

    (email,) = mail.outbox
    assert email.to == [agent_user.email]
    assert email.subject == "Flagged for an update: Refunds"
    assert "Lee Light flagged “Refunds” for an update:\n\nNow 10 days." in email.body
    assert f"/tickets/{ticket.pk}/" in email.body
    assert f"/knowledge/articles/{article.pk}/#flags" in email.body


def test_no_email_for_a_flag_resolved_or_a_keeper_gone_before_the_task_runs(
    admin_user: Any, agent_user: Any, light_agent_user: Any
) -> None:
    from django.core import mail

    _, section = make_structure(admin_user)
    article = make_article(agent_user, section, title="Refunds", owner_id=agent_user.pk)
    resolved = actions.flag_article(actor=light_agent_user, article=article, note="Old.")
    actions.resolve_flag(actor=agent_user, flag=resolved)
    still_open = actions.flag_article(actor=light_agent_user, article=article, note="New.")

    assert not actions.email_flag(flag_id=resolved.pk, keeper_id=agent_user.pk)
    agent_user.is_active = False
    agent_user.save(update_fields=["is_active"])
    assert not actions.email_flag(flag_id=still_open.pk, keeper_id=agent_user.pk)
    assert mail.outbox == []


def test_a_notification_links_only_to_a_workspace_path(agent_user: Any) -> None:
    from concierge.automation.actions import notify_in_app

    for link in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        with pytest.raises(ValueError):
            notify_in_app(agent_ids=[agent_user.pk], message="x", link=link)


def test_without_an_owner_whoever_last_edited_the_article_is_notified(
    admin_user: Any, agent_user: Any, light_agent_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from concierge.automation.models import AgentNotification

    _, section = make_structure(admin_user)
    article = make_article(admin_user, section, title="Refunds")
    actions.update_article(
        actor=agent_user, article=article, changes={"body": "Now 7 days.", "owner_id": None}
    )
    article.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        actions.flag_article(actor=light_agent_user, article=article, note="Now 10 days.")

    assert [n.user for n in AgentNotification.objects.all()] == [agent_user]


def test_marking_an_article_reviewed_moves_its_next_review_on(
    article: Any, agent_user: Any, light_agent_user: Any, admin_user: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    actions.update_article(
        actor=agent_user, article=article, changes={"review_due_on": "2020-01-01"}
    )
    assert article.pk in [a.pk for a in services.articles_due_for_review(user=admin_user)]
    client = signed_in_client(agent_user)
    page = client.get(f"/knowledge/articles/{article.pk}/").content.decode()
    assert f'action="/knowledge/articles/{article.pk}/reviewed/"' in page

    light = signed_in_client(light_agent_user)
    assert light.post(f"/knowledge/articles/{article.pk}/reviewed/").status_code == 403
    done = client.post(f"/knowledge/articles/{article.pk}/reviewed/", follow=True)

    article.refresh_from_db()
    assert article.reviewed_by == agent_user and article.reviewed_at is not None
    next_review = timezone.now().date() + timedelta(days=actions.REVIEW_INTERVAL_DAYS)
    assert article.review_due_on == next_review
    assert "Last reviewed" in done.content.decode()
    assert article.pk not in [a.pk for a in services.articles_due_for_review(user=admin_user)]
