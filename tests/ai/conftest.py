"""Fixtures for triage tests: a few categories with example phrases."""

from __future__ import annotations

import pytest

from concierge.ai.models import Category

CATEGORIES = {
    "billing": (
        "Charges, invoices, refunds and payment problems",
        "I was charged twice\nI want a refund\nwhy is my invoice wrong\nmy card was billed again",
    ),
    "shipping": (
        "Where an order is, delivery delays, tracking",
        "where is my package\nmy order has not arrived\ntracking number does not work",
    ),
    "account": (
        "Signing in, passwords, profile changes",
        "I cannot log in\nreset my password\nchange the email on my account",
    ),
}


@pytest.fixture
def categories(db: None) -> list[Category]:
    from concierge.ai import predictors

    predictors.forget_cached_models()
    return [
        Category.objects.create(name=name, description=description, examples=examples)
        for name, (description, examples) in CATEGORIES.items()
    ]
