"""Fixtures for real-time tests: in-process sockets, and two real server nodes on one Redis.

In-process sockets (``channels.testing.WebsocketCommunicator``) run the real
ASGI application (origin check, session auth, routing, consumer) in the test
process. Tests are plain sync functions that run an async scenario with
``async_to_sync``: the consumer's database calls then run on the test's own
thread and connection, so they see the test's rows (no ``transaction=True``
needed), and ``django_capture_on_commit_callbacks(execute=True)`` plays the
commit that sends the events.

``two_nodes`` starts two uvicorn processes for the cross-node tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from concierge.asgi import application

REPO = Path(__file__).resolve().parents[2]
TEST_ORIGIN = "http://testserver"


@pytest.fixture(autouse=True)
def _keep_the_test_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Consumers' database calls must not close the test's connection.

    ``channels.db.database_sync_to_async`` calls ``close_old_connections()``
    around every call; inside a test's transaction that closes the connection
    (on PostgreSQL; SQLite's in-memory test database ignores it) and the test
    loses its rows. Django's own test client disconnects the same hook for
    requests; this does it for sockets. Tests marked
    ``django_db(transaction=True)`` are unaffected.
    """
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


def session_cookie_for(user: Any) -> str:
    """A real session for ``user`` (as after signing in), as a Cookie header value."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def agent_socket(
    user: Any = None, *, origin: str | None = TEST_ORIGIN, path: str = "/ws/agent/"
) -> WebsocketCommunicator:
    """A not-yet-connected socket to ``path`` carrying ``user``'s session (None: anonymous)."""
    headers = []
    if user is not None:
        headers.append((b"cookie", session_cookie_for(user).encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def receive_all(communicator: WebsocketCommunicator, timeout: float = 0.3) -> list[dict]:
    """Every frame the socket gets until it has been quiet for ``timeout`` seconds."""
    # receive_nothing, not a timed-out receive: a receive that times out
    # cancels the application under test.
    frames = []
    while not await communicator.receive_nothing(timeout=timeout):
        frames.append(await communicator.receive_json_from())
    return frames


async def receive_until(
    communicator: WebsocketCommunicator, frame_type: str, timeout: float = 3.0
) -> tuple[dict, list[dict]]:
    """Reads frames until one of ``frame_type``; returns it and the frames before it."""
    before = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {frame_type!r} frame within {timeout} s; got {before}")
        frame = await communicator.receive_json_from(timeout=remaining)
        if frame.get("type") == frame_type:
            return frame, before
        before.append(frame)


def events_of(frames: list[dict]) -> list[tuple[str, str]]:
    """(stream, kind) of the ``event`` frames, in order."""
    return [(f["stream"], f["kind"]) for f in frames if f.get("type") == "event"]


# --- two server nodes --------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_url_for_two_nodes() -> str | None:
    """REDIS_URL if set, else the local default; None when nothing answers."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/11"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return None
    return url


@dataclass
class Node:
    """One running server process: its base URL and log file."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@dataclass
class Nodes:
    """Server processes sharing one database (and, when given, one Redis)."""

    nodes: list[Node]
    database_url: str
    redis_url: str | None
    environment: dict[str, str] = field(default_factory=dict)

    def manage(self, *args: str) -> str:
        """Runs a management command against the nodes' database; returns its output."""
        result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "django", *args],
            env=self.environment,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout

    def run_python(self, code: str) -> str:
        """Runs Django code (``django.setup()`` done) against the nodes' database."""
        program = "import django; django.setup()\n" + code
        result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-c", program],
            env=self.environment,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"run_python failed:\n{code}\n{result.stderr[-3000:]}")
        return result.stdout

    def sign_in(self, node: Node, email: str, password: str) -> httpx.Client:
        """Signs in through ``node``'s login page; the returned client holds the session."""
        client = httpx.Client(base_url=node.url, follow_redirects=False, timeout=10)
        page = client.get("/login/")
        token = client.cookies.get("csrftoken")
        response = client.post(
            "/login/",
            data={"email": email, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": node.url + "/login/"},
        )
        if response.status_code not in (302, 303) or "sessionid" not in client.cookies:
            raise AssertionError(
                f"sign-in as {email} on {node.name} failed: {response.status_code} "
                f"(login page {page.status_code}) {response.text[:500]}"
            )
        return client

    @staticmethod
    def cookie_header(client: httpx.Client) -> str:
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


class TwoNodes(Nodes):
    @property
    def a(self) -> Node:
        return self.nodes[0]

    @property
    def b(self) -> Node:
        return self.nodes[1]


def _copy_test_database(tmp_dir: Path) -> tuple[str, str | None]:
    """A database for the nodes, copied from the migrated pytest test database.

    Migrating a fresh database takes a busy machine half a minute; copying
    the schema takes a moment. Returns (url, PostgreSQL database to drop).
    SQLite: the test database (in memory) is backed up into a shared file.
    PostgreSQL: a new database made from the test database as a template.
    """
    import sqlite3

    from django.db import connection, connections

    if connection.vendor == "sqlite":
        connection.ensure_connection()
        path = tmp_dir / "nodes.sqlite3"
        target = sqlite3.connect(path)
        with target:
            connection.connection.backup(target)
        target.close()
        return f"sqlite:///{path}", None
    import psycopg

    template = connection.settings_dict["NAME"]
    name = f"rt_nodes_{uuid.uuid4().hex[:8]}"
    # A template database must have no other session: close ours first.
    connections.close_all()
    server = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    with psycopg.connect(server + "/postgres", autocommit=True) as admin:
        # A session another thread of this process is just closing can still
        # hold the template for a moment: wait for it a little.
        for _attempt in range(8):
            try:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                return f"{server}/{name}", name
            except psycopg.errors.ObjectInUse:
                time.sleep(0.25)
        # Still held: an idle connection opened in another context (Playwright's
        # greenlets carry their own contextvars, so close_all() here cannot see
        # it). Copy through pg_dump instead, which other sessions do not block.
        admin.execute(f'CREATE DATABASE "{name}"')
    # fixed arguments on our own test database; pg_dump and psql come with PostgreSQL
    pg_dump = ["pg_dump", "--no-owner", "--dbname", f"{server}/{template}"]
    psql = ["psql", "--quiet", "--set", "ON_ERROR_STOP=1", "--dbname", f"{server}/{name}"]
    dump = subprocess.run(pg_dump, check=True, capture_output=True, timeout=120)  # noqa: S603
    subprocess.run(psql, input=dump.stdout, check=True, capture_output=True, timeout=120)  # noqa: S603
    return f"{server}/{name}", name


def _drop_postgres_database(name: str) -> None:
    import psycopg

    server = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    with psycopg.connect(server + "/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait_until_ready(node: Node, deadline_seconds: float = 60) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise AssertionError(f"node {node.name} exited:\n{node.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(node.url + "/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"node {node.name} did not answer /healthz in time:\n{node.log()}")


@contextlib.contextmanager
def running_nodes(
    names: list[str], tmp_dir: Path, django_db_blocker: Any, *, redis_url: str | None
) -> Iterator[Nodes]:
    """Starts one uvicorn process per name on a copy of the test database; stops them after.

    With ``redis_url`` the nodes use Redis for the channel layer and cache
    (the scaled profile); without it each node is a self-contained embedded
    server with the in-memory channel layer.
    """
    with django_db_blocker.unblock():
        database_url, postgres_name = _copy_test_database(tmp_dir)
    environment = {
        key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")
    }
    environment.update(
        {
            "PYTHONPATH": str(REPO / "src"),
            "DJANGO_SETTINGS_MODULE": "concierge.settings",
            "CONCIERGE_VAR_DIR": str(tmp_dir / "var"),
            "MEDIA_ROOT": str(tmp_dir / "media"),
            "SECRET_KEY": "node-test-" + uuid.uuid4().hex,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # Tasks are queued in the database and never run: the nodes serve
            # requests and sockets only (no search indexing or triage models).
            "TASK_BACKEND": "database",
            "CONCIERGE_EMBEDDED_WORKER": "0",
            # Test settings (plain static files, fast password hashing); the
            # channel layer, cache and database are the real ones.
            "CONCIERGE_TESTING": "1",
            "REALTIME_HEARTBEAT_SECONDS": "1",
            "LOG_LEVEL": "WARNING",
        }
    )
    if database_url.startswith("sqlite:///"):
        # SQLITE_PATH, not DATABASE_URL: the embedded profile's SQLite settings
        # (WAL, IMMEDIATE transactions, a 20 s busy timeout) are what a real
        # deployment runs with; a sqlite:// URL would get none of them.
        environment["SQLITE_PATH"] = database_url.removeprefix("sqlite:///")
    else:
        environment["DATABASE_URL"] = database_url
    if redis_url:
        environment["REDIS_URL"] = redis_url
    nodes: list[Node] = []
    try:
        for name in names:
            port = _free_port()
            log_path = tmp_dir / f"node_{name}.log"
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "-m", "uvicorn", "concierge.asgi:application",
                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                 "--ws", "websockets"],
                env=environment,
                cwd=REPO,
                stdout=log_path.open("wb"),
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            nodes.append(Node(name=name, port=port, process=process, log_path=log_path))
        for node in nodes:
            _wait_until_ready(node)
        group_class = TwoNodes if len(nodes) == 2 else Nodes
        yield group_class(
            nodes=nodes, database_url=database_url, redis_url=redis_url, environment=environment
        )
    finally:
        for node in nodes:
            node.process.terminate()
        for node in nodes:
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()
        if postgres_name:
            _drop_postgres_database(postgres_name)
        shutil.rmtree(tmp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def two_nodes(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: None, django_db_blocker: Any
) -> Iterator[TwoNodes]:
    """Two real server processes (uvicorn, ``concierge.asgi:application``) on one Redis.

    What it gives you: ``two_nodes.a`` and ``two_nodes.b`` (``.url``, ``.ws_url``,
    ``.log()``), both serving the same database and using Redis for the
    channel layer and cache, so an event raised on one node reaches sockets
    held by the other exactly as in the scaled profile.

    * Redis: ``REDIS_URL`` if set, else ``redis://127.0.0.1:6379/11``. When
      Redis does not answer the test is skipped with a message saying so,
      except under ``CI=true``, where it fails (CI must prove scaling).
    * Database: a copy of the migrated pytest test database, empty of test
      rows: a shared SQLite file, or with a PostgreSQL ``DATABASE_URL`` a new
      database ``rt_nodes_<random>`` on that server (dropped afterwards). It
      is NOT the test database itself, so rows made with factories in the
      test process are invisible to the nodes: create data with
      ``two_nodes.run_python("...")`` (prints come back as its result) or
      ``two_nodes.manage(...)``, or through the nodes' HTTP API.
    * Tasks are queued, never run (no worker); heartbeats every second.
    * Signing in: ``client = two_nodes.sign_in(node, email, password)`` posts the
      login form and returns an ``httpx.Client`` holding the session (and the
      ``csrftoken`` cookie for API calls: header ``X-CSRFToken``);
      ``two_nodes.cookie_header(client)`` is the Cookie header for a WebSocket
      handshake (``websockets.asyncio.client.connect(node.ws_url + "/ws/agent/",
      additional_headers={"Cookie": ..., "Origin": node.url})``).
    * Module-scoped: starting two servers costs a few seconds, so the tests of
      one module share them; use distinct users / tickets per test. Each
      node's output is in ``node.log()``: add it to an assertion message.
    * Use from another folder: ``from tests.realtime.conftest import two_nodes``
      in the test module, and mark the tests ``pytest.mark.django_db`` (the
      copy needs the test database, which pytest-django creates only for runs
      holding a database test).
    * One node without Redis (embedded profile): ``running_nodes(["live"],
      tmp_dir, django_db_blocker, redis_url=None)`` (see tests/e2e/test_live_workspace.py).
    """
    redis_url = redis_url_for_two_nodes()
    if redis_url is None:
        message = "Redis is not reachable (REDIS_URL or redis://127.0.0.1:6379/11): two-node test"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " must run under CI=true")
        pytest.skip(message + " skipped")
    tmp_dir = tmp_path_factory.mktemp("two_nodes")
    with running_nodes(["A", "B"], tmp_dir, django_db_blocker, redis_url=redis_url) as nodes:
        assert isinstance(nodes, TwoNodes)
        yield nodes
