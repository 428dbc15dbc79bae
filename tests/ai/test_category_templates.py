"""Starter sets of triage categories: added in one click, never overwriting a team's own."""

from __future__ import annotations

from typing import Any

import pytest

from concierge.ai import actions, predictors
from concierge.ai.category_templates import TEMPLATE_SETS
from concierge.ai.models import Category
from concierge.core.errors import PermissionDenied, ValidationFailed
from tests.conftest import signed_in_client

pytestmark = pytest.mark.django_db


def test_every_starter_category_is_valid_and_names_are_unique_in_a_set() -> None:
    for template in TEMPLATE_SETS.values():
        names = [item.name for item in template.categories]
        assert len(names) == len(set(names)), template.key
        for item in template.categories:
            assert item.name == item.name.lower() and len(item.name) <= 100
            assert 0 < len(item.description) <= 500 and len(item.examples) >= 4


def test_an_admin_adds_a_set_and_a_category_of_the_same_name_is_left_as_it_is(
    admin_user: Any,
) -> None:
    Category.objects.create(name="Billing", description="Our own words", examples="money")
    client = signed_in_client(admin_user)

    added = client.post("/settings/triage/templates/", {"template": "software"}, follow=True)

    page = added.content.decode()
    assert "Added 7 categories" in page and "Already there, left as they are: billing" in page
    assert Category.objects.get(name="Billing").description == "Our own words"
    assert Category.objects.filter(name="account_access").get().example_list[0] == (
        "I forgot my password"
    )
    again = client.post("/settings/triage/templates/", {"template": "software"}, follow=True)
    assert "Added 0 categories" in again.content.decode()
    assert Category.objects.count() == 8


def test_a_starter_set_triages_a_message_from_day_one(admin_user: Any) -> None:
    """The few-shot classifier reads the set as it is: no label, no training."""
    predictors.forget_cached_models()
    actions.add_category_template(actor=admin_user, key="software")

    results = actions.try_triage(actor=admin_user, text="My two-factor code keeps being rejected")

    assert results["intent"].label == "account_access"


def test_only_admins_and_known_sets(agent_user: Any, admin_user: Any) -> None:
    with pytest.raises(PermissionDenied):
        actions.add_category_template(actor=agent_user, key="software")
    with pytest.raises(ValidationFailed, match="starter sets"):
        actions.add_category_template(actor=admin_user, key="bakery")
    assert not Category.objects.exists()
