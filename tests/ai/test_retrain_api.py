"""``POST /api/v1/triage/retrain`` queues the background retrain; its status says how it went.

The request never trains: it answers 202 with the queued run (or 200 with the
run already under way), and ``GET /api/v1/triage/retrain/status`` follows the
run through queued, running, finished (score, promoted or not) or failed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from concierge.ai import actions
from concierge.ai.models import TriageModel
from tests.ai.test_actions import LABELLED, _label
from tests.api.helpers import api_client

pytestmark = pytest.mark.django_db

RETRAIN = "/api/v1/triage/retrain"
STATUS = "/api/v1/triage/retrain/status"


@pytest.fixture
def queued_only(settings: Any) -> Any:
    """A task backend that keeps what was enqueued without running it (a busy worker)."""
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.dummy.DummyBackend",
            "QUEUES": django_settings.TASK_QUEUES,  # the long queue too
        }
    }
    from django_tasks import default_task_backend

    default_task_backend.clear()  # type: ignore[attr-defined]
    return default_task_backend


def _run_queued(backend: Any) -> list[Any]:
    """What the worker does: runs each queued task with its arguments."""
    return [result.task.call(*result.args, **result.kwargs) for result in backend.results]


def test_retrain_answers_202_with_a_queued_run_and_trains_nothing_in_the_request(
    admin_user: Any, queued_only: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(admin_user).post(RETRAIN)

    assert response.status_code == 202
    assert response["Location"] == STATUS
    job = response.json()
    assert job["state"] == "queued" and job["id"]
    assert job["requested_by"] == (admin_user.name or admin_user.email)
    assert job["result"] is None and job["started_at"] is None
    assert [(r.task.name, r.kwargs) for r in queued_only.results] == [
        ("retrain_triage_model", {"job_id": job["id"]})
    ]
    assert TriageModel.objects.count() == 0
    assert api_client(admin_user).get(STATUS).json() == job


def test_a_second_retrain_while_one_waits_answers_with_that_run_and_queues_nothing(
    admin_user: Any, queued_only: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = api_client(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(RETRAIN)
        again = client.post(RETRAIN)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len(queued_only.results) == 1


def test_a_retrain_request_while_an_automatic_run_trains_starts_nothing(
    admin_user: Any, queued_only: Any, django_capture_on_commit_callbacks: Any
) -> None:
    actions.record_retrain_status("running")  # a run after new labels, nobody asked by hand
    running = actions.retrain_status()["id"]

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(admin_user).post(RETRAIN)

    assert response.status_code == 200
    assert response.json()["state"] == "running" and response.json()["id"] == running
    assert queued_only.results == []


def test_status_reports_the_finished_run_with_its_score_and_whether_it_was_promoted(
    admin_user: Any,
    agent_user: Any,
    categories: list,
    queued_only: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.TRIAGE_RETRAIN_EVERY_LABELS = 0
    for text, label in LABELLED * 2:
        _label(text, label, agent_user)
    client = api_client(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = client.post(RETRAIN).json()["id"]

    (outcome,) = _run_queued(queued_only)

    job = client.get(STATUS).json()
    assert job["id"] == job_id and job["state"] == "finished" and job["error"] == ""
    assert job["started_at"] and job["finished_at"]
    model = TriageModel.objects.get(version=outcome["version"])
    assert job["result"]["version"] == model.version
    assert job["result"]["validation_score"] == pytest.approx(model.validation_score)
    assert job["result"]["promoted"] is model.is_active is outcome["promoted"]
    assert job["result"]["training_examples"] > 0


def test_the_same_run_delivered_twice_trains_once(
    admin_user: Any, queued_only: Any, django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    trained: list[int] = []

    def retrain(**kwargs: Any) -> dict[str, Any]:
        trained.append(1)
        return {"promoted": False}

    monkeypatch.setattr(actions, "retrain", retrain)
    with django_capture_on_commit_callbacks(execute=True):
        api_client(admin_user).post(RETRAIN)

    _run_queued(queued_only)
    _run_queued(queued_only)  # a queue that delivered the task twice

    assert trained == [1]
    assert actions.retrain_status()["state"] == "done"


def test_a_failed_run_is_reported_with_its_message(
    admin_user: Any, queued_only: Any, django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    def broken(**kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(actions, "retrain", broken)
    client = api_client(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(RETRAIN)

    with pytest.raises(RuntimeError):
        _run_queued(queued_only)

    job = client.get(STATUS).json()
    assert (job["state"], job["error"], job["result"]) == ("failed", "disk full", None)
    # A failed run is over: the next request starts a new one.
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(RETRAIN).status_code == 202


def test_a_run_that_lost_its_worker_is_reported_failed_and_may_be_asked_again(
    admin_user: Any, queued_only: Any, django_capture_on_commit_callbacks: Any
) -> None:
    actions.record_retrain_status("running")
    from django.core.cache import cache

    status = cache.get(actions.RETRAIN_STATUS_KEY)
    status["started_at"] = (timezone.now() - timedelta(hours=3)).isoformat()
    cache.set(actions.RETRAIN_STATUS_KEY, status, timeout=None)
    client = api_client(admin_user)

    job = client.get(STATUS).json()
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(RETRAIN)

    assert job["state"] == "failed" and "stopped reporting" in job["error"]
    assert again.status_code == 202 and len(queued_only.results) == 1


def test_status_is_idle_before_any_run(admin_user: Any) -> None:
    job = api_client(admin_user).get(STATUS).json()

    assert job == {
        "id": None, "state": "idle", "requested_by": "", "queued_at": None, "started_at": None,
        "finished_at": None, "result": None, "error": "",
    }  # fmt: skip


def test_an_idempotency_key_replays_the_first_answer_instead_of_asking_again(
    admin_user: Any, queued_only: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = api_client(admin_user)
    key = {"Idempotency-Key": "retrain-1"}
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(RETRAIN, headers=key)
    _run_queued(queued_only)  # the run finished meanwhile

    with django_capture_on_commit_callbacks(execute=True):
        retried = client.post(RETRAIN, headers=key)

    assert retried.status_code == 202 and retried["Idempotent-Replayed"] == "true"
    assert retried.json() == first.json()
    assert len(queued_only.results) == 1  # no second run for the retried request


def test_with_tasks_run_inline_the_status_is_finished_right_after_the_request(
    admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = api_client(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(RETRAIN)

    job = client.get(STATUS).json()
    assert response.status_code == 202 and job["id"] == response.json()["id"]
    assert job["state"] == "finished"
    assert job["result"]["promoted"] is False and "few-shot" in job["result"]["reason"]


@pytest.mark.parametrize("who", ["agent_user", "light_agent_user", "customer_user"])
def test_only_admins_may_retrain_or_read_the_status(
    who: str, request: pytest.FixtureRequest, queued_only: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    client = api_client(request.getfixturevalue(who))

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(RETRAIN)
    status = client.get(STATUS)

    assert (started.status_code, status.status_code) == (403, 403)
    assert queued_only.results == []
    assert actions.retrain_status()["is_busy"] is False


def test_openapi_documents_the_background_retrain_and_its_status(db: None) -> None:
    from django.test import Client

    spec = Client().get("/api/v1/openapi.json").json()

    start = spec["paths"][RETRAIN]["post"]
    assert {"200", "202"} <= set(start["responses"])
    assert "202 Accepted" in start["description"] and "retrain/status" in start["description"]
    schema_ref = start["responses"]["202"]["content"]["application/json"]["schema"]["$ref"]
    job = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert job["properties"]["state"]["enum"] == ["idle", "queued", "running", "finished", "failed"]
    assert "get" in spec["paths"][STATUS]
