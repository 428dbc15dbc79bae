"""Retrain now" queues a background task; the triage settings page follows its status."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from concierge.ai import actions
from concierge.ai.models import TriageModel
from concierge.ai.tasks import retrain_triage_model
from tests.conftest import signed_in_client

pytestmark = pytest.mark.django_db

DUMMY_TASKS = {
    "default": {
        "BACKEND": "django_tasks.backends.dummy.DummyBackend",
        "QUEUES": django_settings.TASK_QUEUES,  # the long queue too
    }
}


@pytest.fixture
def queued_only(settings: Any) -> Any:
    """A task backend that keeps what was enqueued without running it (a busy worker)."""
    settings.TASKS = DUMMY_TASKS
    from django_tasks import default_task_backend

    default_task_backend.clear()  # type: ignore[attr-defined]
    return default_task_backend


def test_retrain_now_queues_a_task_instead_of_training_in_the_request(
    admin_user: Any, queued_only: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = signed_in_client(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("workspace:settings_triage_retrain"))

    assert response.status_code == 302
    assert [result.task.name for result in queued_only.results] == ["retrain_triage_model"]
    assert TriageModel.objects.count() == 0  # nothing trained inside the request
    page = client.get(reverse("workspace:settings_triage")).content.decode()
    assert "Queued" in page
    assert reverse("workspace:settings_triage_retrain_status") in page  # the block polls


def test_a_second_retrain_is_not_queued_while_one_waits(
    admin_user: Any, queued_only: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = signed_in_client(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("workspace:settings_triage_retrain"))
        again = client.post(reverse("workspace:settings_triage_retrain"), follow=True)

    assert len(queued_only.results) == 1
    assert "already queued or running" in again.content.decode()


def test_status_shows_the_finished_runs_result_and_stops_polling(
    admin_user: Any, queued_only: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = signed_in_client(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("workspace:settings_triage_retrain"))

    outcome = retrain_triage_model.call()  # what the worker does

    status = actions.retrain_status()
    assert status["state"] == "done" and status["outcome"] == outcome
    assert status["requested_by"] == (admin_user.name or admin_user.email)
    block = client.get(reverse("workspace:settings_triage_retrain_status")).content.decode()
    assert "Kept" in block  # too few labels yet: the few-shot model stays
    assert "labelled tickets" in block
    assert "hx-trigger" not in block


@pytest.mark.parametrize(
    ("examples", "shown"),
    [(3, '"None of these": 3 labelled examples set when'), (0, 'mark off-topic tickets "none')],
)
def test_status_says_what_none_of_these_rests_on(
    admin_user: Any, monkeypatch: pytest.MonkeyPatch, examples: int, shown: str
) -> None:
    def retrained(**kwargs: Any) -> dict[str, Any]:
        return {"promoted": False, "reason": "x", "out_of_scope_examples": examples}

    monkeypatch.setattr(actions, "retrain", retrained)
    retrain_triage_model.call()

    block = signed_in_client(admin_user).get(reverse("workspace:settings_triage_retrain_status"))
    assert shown in block.content.decode()


def test_a_failed_retrain_is_shown_as_failed(
    admin_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(actions, "retrain", broken)

    with pytest.raises(RuntimeError):
        retrain_triage_model.call()

    block = signed_in_client(admin_user).get(reverse("workspace:settings_triage_retrain_status"))
    assert "Failed" in block.content.decode() and "disk full" in block.content.decode()


@pytest.mark.parametrize("who", ["agent_user", "customer_user"])
def test_only_admins_may_queue_a_retrain(
    who: str, request: pytest.FixtureRequest, queued_only: Any
) -> None:
    user = request.getfixturevalue(who)

    signed_in_client(user).post(reverse("workspace:settings_triage_retrain"))

    assert queued_only.results == []
    assert actions.retrain_status()["is_busy"] is False
