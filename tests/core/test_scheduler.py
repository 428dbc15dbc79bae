"""Periodic jobs: run once per interval across workers, failures recorded, bad settings caught."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from concierge.core import scheduler
from concierge.core.apps import check_scheduled_jobs
from concierge.core.models import ScheduledJob

pytestmark = pytest.mark.django_db

CALLS: list[str] = []


def count_call() -> str:
    CALLS.append("ran")
    return f"call {len(CALLS)}"


def fail() -> None:
    raise RuntimeError("mail server unreachable")


@pytest.fixture(autouse=True)
def _jobs(settings):
    CALLS.clear()
    settings.SCHEDULED_JOBS = {
        "counter": {"call": "tests.core.test_scheduler.count_call", "every": 60},
        "broken": {"call": "tests.core.test_scheduler.fail", "every": 60},
    }


def test_a_due_job_runs_once_per_interval_and_records_its_outcome():
    start = timezone.now()
    assert "counter" in scheduler.run_due_jobs(now=start)
    assert CALLS == ["ran"]
    # A second worker looking at the same moment, or 59 s later, finds nothing due.
    assert "counter" not in scheduler.run_due_jobs(now=start)
    assert "counter" not in scheduler.run_due_jobs(now=start + timedelta(seconds=59))
    assert CALLS == ["ran"]
    assert "counter" in scheduler.run_due_jobs(now=start + timedelta(seconds=61))
    assert CALLS == ["ran", "ran"]
    row = ScheduledJob.objects.get(name="counter")
    assert (row.runs, row.failures, row.last_outcome, row.last_error) == (2, 0, "call 2", "")
    assert row.last_finished_at is not None


def test_only_one_of_two_claims_on_the_same_run_wins():
    job = scheduler.configured_jobs()[0]
    now = timezone.now()
    assert [scheduler.claim(job, now=now), scheduler.claim(job, now=now)] == [True, False]


def test_a_failing_job_is_recorded_and_does_not_stop_the_others():
    scheduler.run_due_jobs()
    broken = ScheduledJob.objects.get(name="broken")
    assert broken.failures == 1
    assert broken.last_error == "RuntimeError: mail server unreachable"
    assert CALLS == ["ran"]  # the other job ran in the same pass


def test_mistakes_in_the_setting_are_reported_by_the_system_check(settings):
    assert check_scheduled_jobs() == []
    settings.SCHEDULED_JOBS = {"typo": {"call": "concierge.core.nowhere.job", "every": 60}}
    [error] = check_scheduled_jobs()
    assert "typo" in error.msg and "concierge.core.nowhere.job" in error.msg
    settings.SCHEDULED_JOBS = {"zero": {"call": "tests.core.test_scheduler.fail", "every": 0}}
    [error] = check_scheduled_jobs()
    assert "['every'] must be a number of seconds" in error.msg


def test_the_shipped_jobs_all_resolve(settings):
    from concierge import settings as project_settings

    settings.SCHEDULED_JOBS = project_settings.SCHEDULED_JOBS
    assert check_scheduled_jobs() == []
    assert {"drain_assignment_queues", "close_idle_chats", "retrain_triage"} <= {
        job.name for job in scheduler.configured_jobs()
    }


def test_the_command_lists_jobs_and_runs_one_now(capsys):
    call_command("scheduled_jobs", "--run", "counter")
    call_command("scheduled_jobs", "--run", "counter")  # --run ignores the interval
    assert CALLS == ["ran", "ran"]
    output = capsys.readouterr().out
    assert "counter (every 60 s)" in output and "2 runs, 0 failed" in output
    assert "broken (every 60 s) — never run" in output
    with pytest.raises(CommandError, match="mail server unreachable"):
        call_command("scheduled_jobs", "--run", "broken")
    with pytest.raises(CommandError, match="No scheduled job named 'nope'"):
        call_command("scheduled_jobs", "--run", "nope")


def test_the_scheduler_thread_keeps_going_after_an_error(monkeypatch):
    # The loop alone (the database work is tested above): a pass that raises is
    # logged and the next tick runs again.
    stop = threading.Event()
    passes: list[int] = []

    def flaky_pass() -> list[str]:
        passes.append(1)
        if len(passes) == 1:
            raise RuntimeError("database restarting")
        stop.set()
        return ["counter"]

    monkeypatch.setattr(scheduler, "run_due_jobs", flaky_pass)
    monkeypatch.setattr(scheduler, "close_old_connections", lambda: None)
    loop = threading.Thread(target=scheduler._loop, args=(stop, 0.01))
    loop.start()
    loop.join(timeout=20)
    assert not loop.is_alive()
    assert len(passes) == 2


def test_the_scheduled_retrain_queues_like_an_admins_and_never_twice(
    django_capture_on_commit_callbacks,
):
    from concierge.ai import actions

    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert actions.request_scheduled_retrain() == "queued"
        assert actions.request_scheduled_retrain() == "one already queued or running"
    assert len(queued) == 1  # one task enqueued at commit
    status = actions.retrain_status()
    assert (status["state"], status["requested_by"]) == ("queued", "schedule")


def test_the_scheduled_retrain_skips_when_nothing_changed_since_the_model_in_use(
    django_capture_on_commit_callbacks,
):
    from datetime import timedelta

    from django.utils import timezone

    from concierge.ai import actions
    from concierge.ai.models import Category, Prediction, PredictionKind, TriageModel
    from tests.factories import TicketFactory

    billing = Category.objects.create(name="billing")
    Category.objects.create(name="shipping")
    ticket = TicketFactory()
    label = Prediction.objects.create(
        ticket=ticket, kind=PredictionKind.INTENT, label="billing", model_version="x",
        text="charged twice", corrected_label="billing", corrected_at=timezone.now(),
    )  # fmt: skip
    model = TriageModel.objects.create(
        kind=PredictionKind.INTENT, version="intent-1", artifact=b"", is_active=True,
        labels=["billing", "shipping"],
    )  # fmt: skip
    TriageModel.objects.filter(pk=model.pk).update(created_at=timezone.now() + timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert actions.request_scheduled_retrain() == "no new labels since intent-1"
    assert not queued

    # Each change brings the nightly retrain back: a new label, an edited
    # category, a category gone from the list.
    later = timezone.now() + timedelta(seconds=5)
    Prediction.objects.filter(pk=label.pk).update(corrected_at=later)
    assert actions.request_scheduled_retrain() == "queued"
    _forget_queued_run()
    Prediction.objects.filter(pk=label.pk).update(corrected_at=timezone.now() - timedelta(days=1))
    Category.objects.filter(pk=billing.pk).update(updated_at=later)
    assert actions.request_scheduled_retrain() == "queued"
    _forget_queued_run()
    Category.objects.filter(pk=billing.pk).update(updated_at=timezone.now() - timedelta(days=1))
    assert actions.request_scheduled_retrain() == "no new labels since intent-1"
    Category.objects.filter(name="shipping").delete()
    assert actions.request_scheduled_retrain() == "queued"


def _forget_queued_run() -> None:
    from django.core.cache import cache

    cache.clear()  # forget the queued run, as if the worker had finished it
