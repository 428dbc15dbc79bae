"""Shared fixtures. Tests run against the database in DATABASE_URL (SQLite by default)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client

from concierge.search import actions as search_actions
from concierge.search import services as search_services
from concierge.search import vectors
from tests.factories import PASSWORD, make_admin, make_agent, make_customer_user, make_light_agent

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Django deletes the SQLite test database but not its write-ahead log files
    # (a few MB a run, named after this process: nobody else would ever remove them).
    from django.conf import settings

    database = settings.DATABASES["default"]
    name = database.get("TEST", {}).get("NAME")
    if name and database["ENGINE"].endswith("sqlite3"):
        for suffix in ("-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _isolated_media_and_mail(settings: object, tmp_path: Path) -> None:
    # Keep uploads and outgoing mail of a test run out of the developer's var/.
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # type: ignore[attr-defined]
    cache.clear()
    # The search app's in-process vector matrices are keyed by an index revision
    # that a rolled-back test hands out again: forget them between tests.
    vectors.reset_caches()
    search_services.forget_allowed_ids()
    # Likewise the memo of typo-vocabulary words already stored: a rolled-back
    # test's words are not in the database any more.
    search_actions._known_terms.clear()


@pytest.fixture(autouse=True)
def _triage_off_unless_asked(request: pytest.FixtureRequest, settings: object) -> None:
    # AI triage of new tickets loads models; only tests that ask for it pay for it.
    settings.TRIAGE_ENABLED = "enable_triage" in request.fixturenames  # type: ignore[attr-defined]


@pytest.fixture
def enable_triage(settings: object) -> None:
    """Runs the AI triage in the ticket pipeline (off by default in tests)."""
    settings.TRIAGE_ENABLED = True  # type: ignore[attr-defined]


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA} (needs ../shared next to the repo)")
    return SHARED_DATA


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def admin_user(db: None):  # type: ignore[no-untyped-def]
    return make_admin(email="admin@concierge.test", name="Ada Admin")


@pytest.fixture
def agent_user(db: None):  # type: ignore[no-untyped-def]
    return make_agent(email="agent@concierge.test", name="Alan Agent")


@pytest.fixture
def light_agent_user(db: None):  # type: ignore[no-untyped-def]
    return make_light_agent(email="light@concierge.test", name="Lee Light")


@pytest.fixture
def customer_user(db: None):  # type: ignore[no-untyped-def]
    return make_customer_user(name="Cora Customer", email="cora@customers.test")


def signed_in_client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client
