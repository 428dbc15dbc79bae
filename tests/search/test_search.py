"""Search: full text on SQLite and PostgreSQL, access, highlights, incremental index."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command

from concierge.core.errors import ValidationFailed
from concierge.customers.models import Customer
from concierge.search import actions, lexical, services, vectors
from concierge.search.models import SearchDocument
from concierge.search.services import search
from concierge.tickets import actions as ticket_actions
from concierge.tickets.models import EntryKind, Ticket
from tests.factories import make_agent, make_customer_user

pytestmark = pytest.mark.django_db


def _ticket(requester: Customer, subject: str, body: str, capture) -> Ticket:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        return ticket_actions.create_ticket(
            actor=requester.user, requester=requester, subject=subject, body=body
        )


def _ids(hits) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    return [(hit.kind, hit.object_id) for hit in hits]


@pytest.fixture
def people(db: None):  # type: ignore[no-untyped-def]
    cora = make_customer_user(name="Cora Customer", email="cora@customers.test")
    dan = make_customer_user(name="Dan Other", email="dan@customers.test")
    return {"agent": make_agent(), "cora": cora, "dan": dan}


def test_new_ticket_is_indexed_on_commit_and_found_by_subject(
    people, django_capture_on_commit_callbacks
):
    ticket = _ticket(
        people["cora"].customer,
        "Password reset link expired",
        "The link in the email does not work.",
        django_capture_on_commit_callbacks,
    )
    hits = search(user=people["agent"], query="password reset", kinds=("ticket",))
    assert _ids(hits) == [("ticket", ticket.pk)]
    assert hits[0].title_html == "<mark>Password</mark> <mark>reset</mark> link expired"


def test_prefix_matches_a_word_being_typed(people, django_capture_on_commit_callbacks):
    ticket = _ticket(
        people["cora"].customer,
        "Invoice missing",
        "Where is my invoice?",
        django_capture_on_commit_callbacks,
    )
    assert _ids(search(user=people["agent"], query="invo", kinds=("ticket",))) == [
        ("ticket", ticket.pk)
    ]


def test_typo_in_a_word_still_finds_it(people, django_capture_on_commit_callbacks):
    ticket = _ticket(
        people["cora"].customer,
        "Refund for a damaged parcel",
        "It arrived broken.",
        django_capture_on_commit_callbacks,
    )
    hits = search(user=people["agent"], query="damagd parcel ", kinds=("ticket",), mode="lexical")
    assert _ids(hits) == [("ticket", ticket.pk)]


def test_customer_never_finds_another_customers_ticket(people, django_capture_on_commit_callbacks):
    mine = _ticket(
        people["cora"].customer,
        "Shipping delay",
        "My parcel is late.",
        django_capture_on_commit_callbacks,
    )
    theirs = _ticket(
        people["dan"].customer,
        "Shipping delay too",
        "Parcel late.",
        django_capture_on_commit_callbacks,
    )
    for mode in ("lexical", "semantic", "hybrid"):
        hits = search(user=people["cora"], query="shipping delay parcel", mode=mode)
        assert ("ticket", theirs.pk) not in _ids(hits)
        assert ("ticket", mine.pk) in _ids(hits)
    assert {("ticket", mine.pk), ("ticket", theirs.pk)} <= set(
        _ids(search(user=people["agent"], query="shipping delay", kinds=("ticket",)))
    )


def test_customer_never_matches_words_of_an_internal_note(
    people, django_capture_on_commit_callbacks
):
    ticket = _ticket(
        people["cora"].customer,
        "Card declined",
        "My card was declined.",
        django_capture_on_commit_callbacks,
    )
    with django_capture_on_commit_callbacks(execute=True):
        ticket_actions.add_entry(
            actor=people["agent"],
            ticket=ticket,
            body="Suspected fraud, escalate to zebracorn team",
            kind=EntryKind.INTERNAL_NOTE,
        )
    assert search(user=people["cora"], query="zebracorn", mode="lexical") == []
    assert search(user=people["cora"], query="zebracorn") == [] or all(
        "zebracorn" not in hit.snippet_html
        for hit in search(user=people["cora"], query="zebracorn")
    )
    staff_hits = search(user=people["agent"], query="zebracorn", kinds=("ticket",), mode="lexical")
    assert _ids(staff_hits) == [("ticket", ticket.pk)]
    assert "<mark>zebracorn</mark>" in staff_hits[0].snippet_html


def test_anonymous_finds_only_public_articles(articles, people):
    articles.add(1, "Reset your password", "Open settings and choose reset password.")
    articles.add(2, "Password policy for agents", "Internal: rotate every month.", audience="staff")
    actions.index_now(kind="article", object_ids=[1, 2])
    anonymous = AnonymousUser()
    assert _ids(search(user=anonymous, query="password")) == [("article", 1)]
    assert _ids(search(user=anonymous, query="password", kinds=("ticket", "customer"))) == []
    staff_found = _ids(search(user=people["agent"], query="password", kinds=("article",)))
    assert set(staff_found) == {("article", 1), ("article", 2)}


def test_visitors_follow_the_index_while_their_allowed_rows_are_kept(
    articles, django_assert_num_queries
):
    visitor = AnonymousUser()
    articles.add(1, "Reset your password", "Open settings and choose reset password.")
    actions.index_now(kind="article", object_ids=[1])
    assert _ids(search(user=visitor, query="password")) == [("article", 1)]
    articles.add(2, "Change your password", "Choose a new password in settings.")
    actions.index_now(kind="article", object_ids=[2])
    assert set(_ids(search(user=visitor, query="password"))) == {("article", 1), ("article", 2)}
    articles.add(1, "Reset your password", "Open settings.", audience="staff")
    actions.index_now(kind="article", object_ids=[1])
    assert _ids(search(user=visitor, query="password")) == [("article", 2)]

    public = SearchDocument.objects.filter(audience="public", kind__in=["article"])
    revision = vectors.current_revision()
    expected = set(public.values_list("id", flat=True))
    assert services._allowed_ids(public, revision=revision, reusable=True) == expected
    with django_assert_num_queries(0):
        assert services._allowed_ids(public, revision=revision, reusable=True) == expected
    with django_assert_num_queries(1):  # a customer's rows are always read again
        services._allowed_ids(public, revision=revision, reusable=False)


def test_snippet_escapes_markup_from_the_article(articles):
    articles.add(
        1, "Refunds", 'Ask for a refund <script>alert("x")</script> <img src=x onerror=alert(1)>'
    )
    actions.index_now(kind="article", object_ids=[1])
    (hit,) = search(user=AnonymousUser(), query="refund", mode="lexical")
    assert "<script" not in hit.snippet_html and "<img" not in hit.snippet_html
    assert "&lt;script&gt;" in hit.snippet_html
    assert "<mark>refund</mark>" in hit.snippet_html


def test_query_markup_is_not_reflected_unescaped(articles):
    articles.add(1, "Refunds", "Ask for a refund.")
    actions.index_now(kind="article", object_ids=[1])
    for hit in search(user=AnonymousUser(), query='refund <b onmouseover="x">'):
        assert "<b" not in hit.snippet_html


def test_index_follows_updates_and_deletions(people, django_capture_on_commit_callbacks):
    ticket = _ticket(
        people["cora"].customer, "Broken blender", "It stopped.", django_capture_on_commit_callbacks
    )
    with django_capture_on_commit_callbacks(execute=True):
        ticket_actions.update_ticket(
            actor=people["agent"], ticket=ticket, changes={"subject": "Broken toaster"}
        )
    agent = people["agent"]
    assert _ids(search(user=agent, query="toaster", kinds=("ticket",))) == [("ticket", ticket.pk)]
    assert search(user=agent, query="blender", kinds=("ticket",), mode="lexical") == []
    Ticket.objects.filter(pk=ticket.pk).delete()
    actions.index_now(kind="ticket", object_ids=[ticket.pk])
    assert not SearchDocument.objects.filter(kind="ticket", object_id=ticket.pk).exists()
    assert search(user=agent, query="toaster", kinds=("ticket",)) == []


def test_customers_are_found_by_staff_by_name_and_email(people):
    actions.rebuild(kinds=["customer"])
    agent = people["agent"]
    hits = search(user=agent, query="cora@customers.test", kinds=("customer",))
    assert _ids(hits) == [("customer", people["cora"].customer.pk)]
    assert search(user=people["dan"], query="Cora", kinds=("customer",)) == []


def test_rebuild_command_restores_the_index_and_drops_stale_rows(
    people, django_capture_on_commit_callbacks
):
    ticket = _ticket(
        people["cora"].customer, "Lost luggage", "Bag missing.", django_capture_on_commit_callbacks
    )
    SearchDocument.objects.filter(kind="ticket").delete()
    SearchDocument.objects.create(kind="ticket", object_id=999_999, title="ghost")
    call_command("rebuild_search_index", "ticket", verbosity=0)
    assert set(
        SearchDocument.objects.filter(kind="ticket").values_list("object_id", flat=True)
    ) == {ticket.pk}


def test_hybrid_ranks_the_answer_first_when_words_differ(articles):
    articles.add(1, "Reset your password", "Choose 'Forgot password' on the sign-in page.")
    articles.add(2, "Track your parcel", "Use the tracking number from the shipping email.")
    articles.add(3, "Change your billing address", "Edit it under Account, then Billing.")
    actions.index_now(kind="article", object_ids=[1, 2, 3])
    visitor = AnonymousUser()
    # No word in common with the answer: only semantics can find it.
    semantic = search(user=visitor, query="I cannot log in to my account", mode="hybrid")
    assert semantic[0].object_id == 1
    where_is_it = search(user=visitor, query="where is my package", mode="hybrid")
    assert where_is_it[0].object_id == 2
    assert search(user=visitor, query="billing address", mode="hybrid")[0].object_id == 3


def test_articles_matching_some_words_fill_lexical_search_and_come_from_meaning_in_hybrid(
    articles, monkeypatch
):
    articles.add(1, "Refund for a damaged parcel", "We refund damaged parcels in full.")
    articles.add(2, "Refund timing", "A refund reaches your card within five days.")
    articles.add(3, "Opening hours", "We answer every day from nine to five.")
    actions.index_now(kind="article", object_ids=[1, 2, 3])
    visitor = AnonymousUser()
    asked: list[bool] = []
    original = lexical.candidates

    def spy(**kwargs):  # type: ignore[no-untyped-def]
        asked.append(kwargs["fill_with_partial"])
        return original(**kwargs)

    monkeypatch.setattr(lexical, "candidates", spy)
    # Lexical: the article with both words first, then the one with only "refund".
    found = search(user=visitor, query="damaged parcel refund", mode="lexical")
    assert [hit.object_id for hit in found] == [1, 2]
    # Hybrid skips the any-word query once an article has every word; the
    # partial match still comes, from meaning, ahead of the unrelated one.
    found = search(user=visitor, query="damaged parcel refund", mode="hybrid")
    assert [hit.object_id for hit in found][:2] == [1, 2]
    assert asked == [True, False]


def test_bad_requests_get_clear_errors(people):
    with pytest.raises(ValidationFailed, match="1,000 characters"):
        search(user=people["agent"], query="x" * 1001)
    with pytest.raises(ValidationFailed, match="mode"):
        search(user=people["agent"], query="x", mode="fuzzy")
    assert search(user=people["agent"], query="   ") == []


def test_semantic_matrix_follows_new_changed_and_removed_articles(articles):
    visitor = AnonymousUser()
    articles.add(1, "Track your parcel", "Use the tracking number from the email.")
    actions.index_now(kind="article", object_ids=[1])
    assert [hit.object_id for hit in search(user=visitor, query="parcel", mode="semantic")] == [1]

    articles.add(2, "Cancel a subscription", "Open Billing and choose Cancel.")
    actions.index_now(kind="article", object_ids=[2])  # loaded incrementally
    found = search(user=visitor, query="stop my subscription", mode="semantic")
    assert found[0].object_id == 2

    articles.add(2, "Pause deliveries", "Choose a date to skip a delivery.")
    actions.index_now(kind="article", object_ids=[2])  # its old vectors are masked
    found = search(user=visitor, query="stop my subscription", mode="semantic")
    assert found[0].title == "Pause deliveries"

    del articles.documents[1]
    actions.index_now(kind="article", object_ids=[1])  # removed: the matrix reloads
    assert [hit.object_id for hit in search(user=visitor, query="parcel", mode="semantic")] == [2]


def test_colleague_finds_org_tickets_only_where_the_org_shares_them(
    django_capture_on_commit_callbacks,
):
    from tests.factories import OrganizationFactory

    organization = OrganizationFactory()
    cora = make_customer_user(organization=organization, email="cora@org.test")
    colleague = make_customer_user(organization=organization, email="colleague@org.test")
    ticket = _ticket(
        cora.customer, "Printer jammed", "Paper stuck.", django_capture_on_commit_callbacks
    )
    assert search(user=colleague, query="printer", mode="lexical") == []

    organization.members_see_all_requests = True
    organization.save()

    assert _ids(search(user=colleague, query="printer", mode="lexical")) == [("ticket", ticket.pk)]
