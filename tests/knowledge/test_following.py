"""Following articles and sections in the help center, and the emails that follow."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from concierge.core.errors import LimitExceeded, NotFound, PermissionDenied
from concierge.knowledge import actions
from concierge.knowledge.models import HelpSubscription
from tests.conftest import signed_in_client
from tests.knowledge.helpers import make_article, make_structure

pytestmark = pytest.mark.django_db


@pytest.fixture
def help_center(admin_user: Any, agent_user: Any) -> dict[str, Any]:
    _, section = make_structure(admin_user, name="Billing")
    article = make_article(agent_user, section, title="Refunds", body="Refunds take 5 days.")
    internal = make_article(agent_user, section, title="Refund overrides", visibility="internal")
    return {"section": section, "article": article, "internal": internal}


def _edit(client: Client, article: Any, section: Any, body: str, **extra: Any) -> Any:
    form = {
        "title": "Refunds", "body": body, "description": "", "section_id": section.pk,
        "status": "published", "visibility": "public", "owner_id": "", "review_due_on": "",
        "position": 0, "tags": "", **extra,
    }  # fmt: skip
    return client.post(f"/knowledge/articles/{article.pk}/", form)


def test_a_customer_follows_an_article_and_hears_when_it_changes_then_stops(
    help_center: Any, customer_user: Any, agent_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    article, section = help_center["article"], help_center["section"]
    reader = signed_in_client(customer_user)
    page = f"/portal/help/articles/{article.pk}/"

    followed = reader.post(f"/portal/help/articles/{article.pk}/follow/")

    assert followed.status_code == 302 and followed["Location"].endswith("#follow")
    assert HelpSubscription.objects.filter(user=customer_user, article=article).exists()
    assert "You follow this article." in reader.get(page, follow=True).content.decode()

    agent = signed_in_client(agent_user)
    with django_capture_on_commit_callbacks(execute=True):
        _edit(agent, article, section, "Refunds take 3 days.")  # no box ticked: no email
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        _edit(agent, article, section, "Refunds take 2 days.", notify_followers="on")

    (email,) = mail.outbox
    assert email.to == [customer_user.email] and email.subject == "Updated: Refunds"
    assert "Refunds take 2 days." in email.body and "/portal/help/articles/" in email.body
    stop_line = r"Stop following \(this, or everything\): \S+(/portal/help/unfollow/[^/\s]+/)"
    stop = re.search(stop_line, email.body)
    assert stop is not None
    # Opening the link asks (a mail scanner changes nothing); the button ends it.
    asked = Client().get(stop.group(1))
    assert asked.status_code == 200 and "Stop following?" in asked.content.decode()
    assert HelpSubscription.objects.exists()
    done = Client().post(stop.group(1))
    assert done.status_code == 200 and "no longer follow “Refunds”" in done.content.decode()
    assert not HelpSubscription.objects.exists()
    assert Client().get(stop.group(1)).status_code == 404  # used: nothing left to stop


def test_section_followers_hear_of_a_new_article_they_may_read(
    help_center: Any, customer_user: Any, agent_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    section = help_center["section"]
    signed_in_client(customer_user).post(f"/portal/help/sections/{section.pk}/follow/")
    agent = signed_in_client(agent_user)
    form = {
        "title": "Chargebacks", "body": "How we handle them.", "description": "",
        "section_id": section.pk, "status": "published", "visibility": "public",
        "owner_id": "", "review_due_on": "", "position": 0, "tags": "",
        "notify_followers": "on",
    }  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        agent.post("/knowledge/articles/new/", form)
        hidden = {**form, "title": "Internal", "visibility": "internal"}
        agent.post("/knowledge/articles/new/", hidden)

    from concierge.knowledge.models import ArticleTranslation

    assert ArticleTranslation.objects.filter(title="Internal").exists()  # it was published
    (email,) = mail.outbox  # the agents-only one is never announced to a customer
    assert email.subject == "New in Billing basics: Chargebacks"
    assert "You follow the section Billing basics." in email.body


def test_a_follower_who_can_no_longer_read_the_article_gets_nothing(
    help_center: Any, customer_user: Any, agent_user: Any
) -> None:
    article = help_center["article"]
    actions.follow(actor=customer_user, article=article)
    actions.update_article(actor=agent_user, article=article, changes={"visibility": "internal"})

    assert actions.email_followers(article_id=article.pk, new=False) == 0
    assert mail.outbox == []


def test_only_signed_in_readers_follow_what_they_may_read(
    help_center: Any, customer_user: Any, monkeypatch: Any
) -> None:
    from django.contrib.auth.models import AnonymousUser

    article, internal = help_center["article"], help_center["internal"]
    with pytest.raises(PermissionDenied):
        actions.follow(actor=AnonymousUser(), article=article)
    with pytest.raises(NotFound):
        actions.follow(actor=customer_user, article=internal)
    anonymous = Client().post(f"/portal/help/articles/{article.pk}/follow/")
    assert anonymous.status_code == 302 and "/portal/login/" in anonymous["Location"]
    page = Client().get(f"/portal/help/articles/{article.pk}/", follow=True).content.decode()
    assert "Sign in to follow this article" in page

    monkeypatch.setattr(actions, "FOLLOWS_PER_USER", 1)
    actions.follow(actor=customer_user, article=article)
    actions.follow(actor=customer_user, article=article)  # again: still one
    with pytest.raises(LimitExceeded, match="the limit"):
        actions.follow(actor=customer_user, section=help_center["section"])


def test_a_forged_unfollow_link_ends_nothing(help_center: Any, customer_user: Any) -> None:
    actions.follow(actor=customer_user, article=help_center["article"])

    forged = Client().post("/portal/help/unfollow/eyJzIjoxLCJ1IjoxfQ:forged/")

    assert forged.status_code == 404 and HelpSubscription.objects.count() == 1


def test_agents_see_how_many_follow_an_article(
    help_center: Any, customer_user: Any, agent_user: Any
) -> None:
    article = help_center["article"]
    actions.follow(actor=customer_user, article=article)

    page = signed_in_client(agent_user).get(f"/knowledge/articles/{article.pk}/").content.decode()

    assert "1 reader follows this article." in page


def test_the_following_page_lists_what_the_reader_may_read_and_unfollows_from_there(
    help_center: Any, customer_user: Any, agent_user: Any, admin_user: Any
) -> None:
    article, section = help_center["article"], help_center["section"]
    _, other_section = make_structure(admin_user, name="Shipping")
    hidden = make_article(agent_user, other_section, title="Parcel rules")
    for target in ({"article": article}, {"section": section}, {"article": hidden}):
        actions.follow(actor=customer_user, **target)
    actions.update_article(actor=agent_user, article=hidden, changes={"visibility": "internal"})
    reader = signed_in_client(customer_user)

    page = reader.get("/portal/help/following/").content.decode()

    assert "Refunds" in page and "Billing basics" in page and "Parcel rules" not in page
    token = re.search(r'action="(/portal/help/unfollow/[^"]+/)"', page)
    assert token is not None
    back = reader.post(token.group(1), {"next": "following"})
    assert back.status_code == 302 and back["Location"] == "/portal/help/following/"
    assert HelpSubscription.objects.filter(user=customer_user).count() == 2


def test_a_follower_reads_the_email_in_their_language(
    help_center: Any, customer_user: Any, agent_user: Any
) -> None:
    from concierge.knowledge.models import HelpCenterSettings

    article = help_center["article"]
    HelpCenterSettings.objects.update_or_create(pk=1, defaults={"locales": ["fr"]})
    actions.update_article(
        actor=agent_user, article=article, locale="fr",
        changes={"title": "Remboursements", "body": "Cinq jours."},
    )  # fmt: skip
    customer = customer_user.customer
    customer.language = "fr"
    customer.save(update_fields=["language"])
    actions.follow(actor=customer_user, article=article)

    assert actions.email_followers(article_id=article.pk, new=False) == 1

    (email,) = mail.outbox
    assert email.subject == "Updated: Remboursements" and "Cinq jours." in email.body
    assert "?lang=fr" in email.body


def test_one_who_follows_the_article_and_its_section_gets_one_email(
    help_center: Any, customer_user: Any
) -> None:
    article, section = help_center["article"], help_center["section"]
    actions.follow(actor=customer_user, section=section)
    actions.follow(actor=customer_user, article=article)

    assert actions.email_followers(article_id=article.pk, new=True) == 1
    assert mail.outbox[0].subject == "Updated: Refunds"  # as the article's follower


def test_an_unfollow_link_does_not_name_an_article_made_agents_only(
    help_center: Any, customer_user: Any, agent_user: Any
) -> None:
    article = help_center["article"]
    subscription = actions.follow(actor=customer_user, article=article)
    actions.update_article(actor=agent_user, article=article, changes={"visibility": "internal"})

    page = Client().get(f"/portal/help/unfollow/{actions.unfollow_token(subscription)}/")

    assert page.status_code == 200 and "Refunds" not in page.content.decode()
    assert "an article" in page.content.decode()


def test_an_emails_link_can_stop_everything_the_reader_follows(
    help_center: Any, customer_user: Any, agent_user: Any
) -> None:
    subscription = actions.follow(actor=customer_user, article=help_center["article"])
    actions.follow(actor=customer_user, section=help_center["section"])
    actions.follow(actor=agent_user, article=help_center["article"])  # someone else's stays
    link = f"/portal/help/unfollow/{actions.unfollow_token(subscription)}/"
    assert "Stop following everything" in Client().get(link).content.decode()

    done = Client().post(link, {"all": "1"})

    assert done.status_code == 200 and "no longer follow 2 article(s)" in done.content.decode()
    assert list(HelpSubscription.objects.values_list("user_id", flat=True)) == [agent_user.pk]
