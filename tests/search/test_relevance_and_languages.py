"""Relevance cut-off for visitors, articles in several languages, the fused encoder."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client, override_settings

from concierge.knowledge import actions as knowledge_actions
from concierge.knowledge import services as knowledge_services
from concierge.search import actions, encoders, ranking, vectors
from concierge.search.documents import IndexDocument
from concierge.search.models import SearchDocument
from concierge.search.services import search, suggest_articles
from tests.knowledge.helpers import make_article, make_structure

pytestmark = pytest.mark.django_db

OFF_TOPIC = "what will the weather be like on mars tomorrow"


@pytest.fixture
def help_center(articles):  # type: ignore[no-untyped-def]
    articles.add(1, "Reset your password", "Choose 'Forgot password' on the sign-in page.")
    articles.add(2, "Track your parcel", "Use the tracking number from the shipping email.")
    articles.add(3, "Change your billing address", "Edit it under Account, then Billing.")
    actions.index_now(kind="article", object_ids=[1, 2, 3])
    return articles


def test_visitor_search_with_cut_off_drops_off_topic_questions_but_keeps_answers(help_center):
    visitor = AnonymousUser()

    assert search(user=visitor, query=OFF_TOPIC, kinds=("article",), cut_off=True) == []
    assert suggest_articles(user=visitor, text=OFF_TOPIC) == []
    # Without the cut-off (an agent's search) the least bad article still comes back.
    assert search(user=visitor, query=OFF_TOPIC, kinds=("article",)) != []
    answered = search(user=visitor, query="I forgot my password", kinds=("article",), cut_off=True)
    assert answered[0].object_id == 1
    threshold = ranking.min_relevance("default")
    assert threshold is not None and all(hit.score >= threshold for hit in answered)
    assert suggest_articles(user=visitor, text="where is my package")[0].object_id == 2


def test_lexical_mode_is_never_cut(help_center):
    # Lexical scores are relative to the query's best match: no absolute threshold applies.
    hits = search(
        user=AnonymousUser(), query="billing", kinds=("article",), mode="lexical", cut_off=True
    )
    assert [hit.object_id for hit in hits] == [3]


@pytest.fixture
def knowledge_content(admin_user, agent_user, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        knowledge_actions.save_branding(actor=admin_user, changes={"locales": "fr de"})
        _, section = make_structure(admin_user)
        password = make_article(
            agent_user, section, title="Reset your password",
            body="Open the sign-in page and choose **Forgot password**. A link arrives by email.",
        )  # fmt: skip
        parcel = make_article(
            agent_user, section, title="Track your parcel",
            body="Use the tracking number from the shipping email to follow your delivery.",
        )  # fmt: skip
        knowledge_actions.update_article(
            actor=agent_user, article=password, locale="fr",
            changes={
                "title": "Réinitialiser votre mot de passe",
                "body": "Ouvrez la page de connexion et choisissez « Mot de passe oublié ».",
            },
        )  # fmt: skip
    return {"password": password, "parcel": parcel}


def test_every_translation_is_indexed_and_results_follow_the_visitors_language(
    knowledge_content,
):
    password = knowledge_content["password"]
    row = SearchDocument.objects.get(kind="article", object_id=password.pk)
    assert row.locale == "en" and row.extra["locales"] == ["en", "fr"]
    assert "Réinitialiser votre mot de passe" in row.body
    assert row.vector_count >= 2 + 2  # whole text, title, ..., the translation's title and text
    visitor = AnonymousUser()

    # A French question finds the article through its French words...
    french = knowledge_services.search_articles(
        user=visitor, query="mot de passe oublié", locale="fr"
    )
    assert [hit.article.pk for hit in french] == [password.pk]
    assert french[0].article.text.locale == "fr" and not french[0].article.is_fallback
    assert "connexion" in french[0].snippet_html  # the snippet quotes the French text
    # ... an English one shows the French text to a French reader ...
    english_question = knowledge_services.search_articles(
        user=visitor, query="forgot password", locale="fr"
    )
    assert english_question[0].article.pk == password.pk
    assert english_question[0].article.text.title == "Réinitialiser votre mot de passe"
    # ... and a reader of a language without a translation gets the fallback.
    german = knowledge_services.search_articles(user=visitor, query="forgot password", locale="de")
    assert german[0].article.text.locale == "en" and german[0].article.is_fallback
    assert german[0].snippet_html == (
        "Open the sign-in page and choose <mark>Forgot</mark> <mark>password</mark>. "
        "A link arrives by email."
    )  # the English text only, not the French translation the index also holds


def test_removed_translation_leaves_the_index(
    knowledge_content, agent_user, django_capture_on_commit_callbacks
):
    password = knowledge_content["password"]
    with django_capture_on_commit_callbacks(execute=True):
        knowledge_actions.delete_translation(actor=agent_user, article=password, locale="fr")

    row = SearchDocument.objects.get(kind="article", object_id=password.pk)
    assert row.extra["locales"] == ["en"] and "passe" not in row.body
    assert (
        knowledge_services.search_articles(
            user=AnonymousUser(), query="réinitialiser mot de passe", locale="fr"
        )
        == []
    )


def test_help_center_reports_an_off_topic_search_as_without_result(knowledge_content, admin_user):
    # The semantic ranker always had a "closest" article; with the cut-off an
    # off-topic question finds nothing and lands in the admins' report.
    client = Client()
    page = client.get("/portal/help/search/", {"q": OFF_TOPIC}).content.decode()
    token = re.search(r'data-help-event="([^"]+)"', page)
    assert token and "Track your parcel" not in page and "0 results" in page

    client.post("/portal/help/events/", {"token": token.group(1)})

    (without_result,) = knowledge_services.searches_without_results(user=admin_user)
    assert (without_result.query, without_result.count) == (OFF_TOPIC, 1)


def test_agents_article_search_is_not_cut(knowledge_content, agent_user):
    hits = knowledge_services.search_articles(user=agent_user, query=OFF_TOPIC, locale="en")
    assert hits  # agents judge relevance themselves: they see the closest articles


# --- the fused MiniLM + e5 encoder (the articles' encoder outside tests) ---------------


@pytest.fixture
def fused_articles(articles) -> Iterator[None]:  # type: ignore[no-untyped-def]
    with override_settings(SEARCH_ENCODERS={"article": "minilm+e5", "ticket": "", "customer": ""}):
        vectors.reset_caches()
        yield
    vectors.reset_caches()


def test_fused_encoder_is_a_weighted_sum_of_the_two_cosines():
    texts = ["I forgot my password", "How do I reset my password?", "Pizza with olives"]
    minilm = encoders.get_encoder("default").encode(texts)
    e5_documents = encoders.get_encoder("e5").encode(texts)
    e5_queries = encoders.get_encoder("e5").encode_queries(texts)
    fused = encoders.get_encoder("minilm+e5")
    documents, queries = fused.encode(texts), fused.encode_queries(texts)
    share = encoders.FUSED_MINILM_SHARE

    assert documents.shape == (3, 768) == (3, fused.dim)
    assert np.allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-4)
    expected = share * (minilm @ minilm.T) + (1 - share) * (e5_queries @ e5_documents.T)
    assert np.allclose(queries @ documents.T, expected, atol=1e-4)
    assert not np.allclose(e5_queries, e5_documents)  # e5's query and passage prompts differ
    assert (queries @ documents.T)[0, 1] > (queries @ documents.T)[0, 2] + 0.2


def test_question_in_the_language_of_a_translation_finds_the_article(articles, fused_articles):
    articles.add(1, "Reset your password", "Choose 'Forgot password' on the sign-in page.")
    articles.documents[2] = IndexDocument(
        kind="article", object_id=2, title="Track your parcel", audience="public", locale="en",
        body="Use the tracking number from the shipping email.\n\nSuivre votre colis\n"
        "Utilisez le numéro de suivi reçu dans l'e-mail d'expédition.",
        passages=(
            "Suivre votre colis",
            "Suivre votre colis\nUtilisez le numéro de suivi reçu dans l'e-mail d'expédition.",
        ),
    )  # fmt: skip
    articles.add(3, "Change your billing address", "Edit it under Account, then Billing.")
    actions.index_now(kind="article", object_ids=[1, 2, 3])
    assert set(SearchDocument.objects.values_list("encoder", flat=True)) == {
        vectors.stored_label("minilm+e5")
    }
    row = SearchDocument.objects.get(object_id=2)
    assert row.vector_count == 2 + 3 + 2  # whole, title, three body lines, the two passages
    visitor = AnonymousUser()

    where = search(
        user=visitor, query="où en est la livraison de mon paquet", kinds=("article",), cut_off=True
    )
    assert where and where[0].object_id == 2
    login = search(user=visitor, query="I cannot sign in", kinds=("article",), cut_off=True)
    assert login and login[0].object_id == 1
    assert search(user=visitor, query=OFF_TOPIC, kinds=("article",), cut_off=True) == []


def test_cut_off_waits_for_vectors_after_an_encoder_change(help_center):
    # The articles were embedded by MiniLM; the settings now name the fused
    # encoder, whose vectors the rebuild has not written yet.
    with override_settings(SEARCH_ENCODERS={"article": "minilm+e5", "ticket": "", "customer": ""}):
        hits = search(
            user=AnonymousUser(), query="billing address", kinds=("article",), cut_off=True
        )

    assert [hit.object_id for hit in hits] == [3]  # lexical evidence still answers
