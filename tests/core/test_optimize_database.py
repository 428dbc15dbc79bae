"""The planner-statistics command runs on every supported database."""

from __future__ import annotations

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_optimize_database_refreshes_statistics(capsys):
    call_command("optimize_database")

    assert "Planner statistics refreshed" in capsys.readouterr().out
