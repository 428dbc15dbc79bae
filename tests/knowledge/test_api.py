"""The knowledge base API: staff manage, everyone reads what is published."""

from __future__ import annotations

import pytest
from django.test import Client

from concierge.accounts.actions import create_api_token
from concierge.knowledge.models import Article
from tests.factories import make_customer_user
from tests.knowledge.helpers import make_article, make_structure

pytestmark = pytest.mark.django_db


def _api(user=None) -> Client:
    if user is None:
        return Client()
    _, secret = create_api_token(actor=user, name="tests")
    return Client(headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def articles(admin_user, agent_user):
    _, section = make_structure(admin_user)
    return {
        "public": make_article(agent_user, section, title="Public guide"),
        "internal": make_article(
            agent_user, section, title="Internal guide", visibility="internal"
        ),
        "draft": make_article(agent_user, section, title="Draft guide", status="draft"),
        "section": section,
    }


@pytest.mark.parametrize("who", ["anonymous", "customer"])
def test_customers_and_anonymous_read_only_published_public_articles(articles, who):
    client = _api(None if who == "anonymous" else make_customer_user())

    listed = client.get("/api/v1/kb/articles").json()["items"]
    public = client.get(f"/api/v1/kb/articles/{articles['public'].pk}")
    hidden = [
        client.get(f"/api/v1/kb/articles/{articles[k].pk}").status_code
        for k in ("internal", "draft")
    ]

    assert [item["title"] for item in listed] == ["Public guide"]
    assert public.status_code == 200 and public.json()["owner_id"] is None
    assert hidden == [404, 404]
    assert client.get("/api/v1/kb/categories").status_code == 200
    created = client.post("/api/v1/kb/articles", {"title": "x"}, content_type="application/json")
    assert created.status_code == (401 if who == "anonymous" else 403)


def test_a_bad_token_is_refused_not_read_as_anonymous(articles):
    client = Client(headers={"Authorization": "Bearer cnc_not-a-token"})
    assert client.get("/api/v1/kb/articles").status_code == 401


def test_agent_creates_translates_and_restores_through_the_api(articles, agent_user):
    client = _api(agent_user)
    section = articles["section"]

    created = client.post(
        "/api/v1/kb/articles",
        {"section_id": section.pk, "title": "API article", "body": "v1", "status": "published"},
        content_type="application/json",
    )
    article_id = created.json()["id"]
    client.patch(
        f"/api/v1/kb/articles/{article_id}", {"body": "v2"}, content_type="application/json"
    )
    french = client.patch(
        f"/api/v1/kb/articles/{article_id}",
        {"locale": "fr", "title": "Article API", "body": "v1 fr"},
        content_type="application/json",
    )
    versions = client.get(f"/api/v1/kb/articles/{article_id}/versions?locale=en").json()
    restored = client.post(
        f"/api/v1/kb/articles/{article_id}/versions/{versions[-1]['id']}/restore"
    )

    assert created.status_code == 201 and created.json()["body_html"] == "<p>v1</p>\n"
    assert french.json()["locale"] == "fr" and french.json()["translations"] == ["en", "fr"]
    assert [v["number"] for v in versions] == [2, 1]
    assert restored.status_code == 201 and restored.json()["number"] == 3
    german = Client().get(f"/api/v1/kb/articles/{article_id}?locale=de").json()
    assert german["locale"] == "en" and german["body_markdown"] == "v1"


def test_only_admins_manage_categories(agent_user, admin_user):
    refused = _api(agent_user).post(
        "/api/v1/kb/categories", {"name": "X"}, content_type="application/json"
    )
    created = _api(admin_user).post(
        "/api/v1/kb/categories", {"name": "X"}, content_type="application/json"
    )

    assert refused.status_code == 403 and created.status_code == 201


def test_deleting_an_article_needs_a_full_agent(articles, light_agent_user, agent_user):
    article = articles["public"]
    assert _api(light_agent_user).delete(f"/api/v1/kb/articles/{article.pk}").status_code == 403
    assert _api(agent_user).delete(f"/api/v1/kb/articles/{article.pk}").status_code == 204
    assert not Article.objects.filter(pk=article.pk).exists()


def test_agents_flag_and_resolve_through_the_api(articles, agent_user, light_agent_user):
    from tests.factories import TicketFactory

    article = articles["public"]
    ticket = TicketFactory()
    light = _api(light_agent_user)

    created = light.post(
        f"/api/v1/kb/articles/{article.pk}/flags",
        {"note": "Say how long refunds take.", "ticket_id": ticket.pk},
        content_type="application/json",
    )
    too_long = light.post(
        f"/api/v1/kb/articles/{article.pk}/flags", {"note": "x" * 2001},
        content_type="application/json",
    )  # fmt: skip

    assert created.status_code == 201
    flag = created.json()
    assert (flag["ticket_id"], flag["resolved_at"]) == (ticket.pk, None)
    assert too_long.status_code == 422 and "2000" in too_long.content.decode()
    assert light.post(f"/api/v1/kb/flags/{flag['id']}/resolve").status_code == 403
    resolved = _api(agent_user).post(f"/api/v1/kb/flags/{flag['id']}/resolve").json()
    assert resolved["resolved_by"] == agent_user.name
    listed = _api(agent_user).get(f"/api/v1/kb/articles/{article.pk}/flags").json()
    assert [f["id"] for f in listed] == [flag["id"]]


def test_readers_follow_and_unfollow_through_the_api(articles):
    from concierge.knowledge.models import HelpSubscription

    customer = make_customer_user()
    client = _api(customer)
    public, internal = articles["public"], articles["internal"]

    assert client.put(f"/api/v1/kb/articles/{public.pk}/follow").status_code == 204
    assert client.put(f"/api/v1/kb/articles/{public.pk}/follow").status_code == 204  # again
    assert client.put(f"/api/v1/kb/articles/{internal.pk}/follow").status_code == 404
    section = articles["section"]
    assert client.put(f"/api/v1/kb/sections/{section.pk}/follow").status_code == 204
    assert HelpSubscription.objects.filter(user=customer).count() == 2
    assert client.delete(f"/api/v1/kb/articles/{public.pk}/follow").status_code == 204
    assert client.delete(f"/api/v1/kb/sections/{section.pk}/follow").status_code == 204
    assert not HelpSubscription.objects.exists()
    assert Client().put(f"/api/v1/kb/articles/{public.pk}/follow").status_code == 401
