"""Core benchmark: ticket creation through the API and page latency on a large desk.

    ./concierge bench core                     100,000 tickets x 5 entries (slow to seed)
    ./concierge bench core --quick             2,000 tickets, fewer requests: a minute or two

Each database gets its own pass, in a child process (Django's settings are
per process): SQLite in a temporary file always, and PostgreSQL when
DATABASE_URL points at one (in a scratch database, ``concierge_bench``,
created and dropped here). A pass:

1. migrates an empty database and loads the demo desk, then seeds N tickets
   of E entries each with the demo generator (bulk inserts);
2. starts the real ASGI app under uvicorn on a free loopback port, as
   ``./concierge serve`` runs it (one worker, embedded task worker);
3. measures ticket creation through ``POST /api/v1/tickets`` with one client
   and with eight concurrent clients (requests/s), and p50/p95 latency of
   the My-open inbox, a ticket page and ``GET /api/v1/tickets``;
4. measures the raw ceiling: the same rows (ticket, first entry, audit
   event) inserted straight through the database driver with
   ``executemany`` in one transaction. The API figure reads as a share of it.

A request that does not answer 2xx counts as an error and shows in the table
(with its status code), so the run finishes even where an endpoint is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import databases_to_run, run_child_pass

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "concierge_bench"
NAME = "core"


@dataclass
class Timing:
    """Latencies of one kind of request, and how many failed (by status code)."""

    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies) + sum(self.failures.values())

    def note(self) -> str:
        return ", ".join(f"{count}x {reason}" for reason, count in self.failures.most_common(3))


# --- parent: one child per database ----------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.core", description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets to seed")
    parser.add_argument("--entries-per-ticket", type=int, default=5)
    parser.add_argument("--creates", type=int, default=1000, help="API ticket creations per run")
    parser.add_argument("--samples", type=int, default=200, help="requests per latency figure")
    parser.add_argument("--raw-rows", type=int, default=5000, help="tickets in the raw insert")
    parser.add_argument(
        "--quick", action="store_true", help="2,000 tickets, 100 creations, 40 samples"
    )
    parser.add_argument(
        "--database",
        choices=["all", "sqlite", "postgresql"],
        default="all",
        help="all = SQLite, plus PostgreSQL when DATABASE_URL points at one",
    )
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.tickets = min(args.tickets, 2000)
        args.creates = min(args.creates, 100)
        args.samples = min(args.samples, 40)
        args.raw_rows = min(args.raw_rows, 2000)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    databases = databases_to_run(args.database)
    if databases is None:
        return 2
    results = {}
    for database in databases:
        summary = run_child_pass(
            module="bench.core", database=database, argv=argv, scratch_database=BENCH_DATABASE
        )
        if summary is not None:
            results[database] = summary
    # The last line on stdout: every pass's figures in one JSON object.
    print(json.dumps({"benchmark": NAME, "passes": results}, default=str), flush=True)
    return 0 if len(results) == len(databases) else 1


# --- child: one database ------------------------------------------------------------


def child_main(args: argparse.Namespace) -> int:
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    from django.core.management import call_command

    from bench.common import append_results, database_label, print_table

    log = _logger()
    label = database_label()
    log(f"{label}: migrating")
    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)

    started = time.monotonic()
    seeded_entries = seed(args, log)
    seed_seconds = time.monotonic() - started
    log(f"seeded {args.tickets:,} tickets / {seeded_entries:,} entries in {seed_seconds:.0f} s")

    credentials = make_credentials()
    port = free_port()
    with serve(port, log) as base_url:
        timings = measure_http(base_url, credentials, args, log)
    raw_seconds, raw_rows = raw_insert(args.raw_rows, credentials["customer_id"])

    rows, summary = report(args, label, timings, raw_rows / raw_seconds, seed_seconds)
    summary["seeded_entries"] = seeded_entries
    print_table(f"Core benchmark: {label}, {args.tickets:,} tickets", rows)
    append_results(f"{NAME} ({label})", rows, summary)
    return 0


def _logger() -> Callable[[str], None]:
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    return log


def seed(args: argparse.Namespace, log: Callable[[str], None]) -> int:
    from django.core.management import call_command

    from concierge.demo import generator

    customers = max(20, min(2000, args.tickets // 50))
    generator.load(
        scale=generator.Scale(tickets=0, customers=customers, organizations=30, days=90),
        progress=log,
    )

    def progress(done: int) -> None:
        if done % 20_000 == 0 or done == args.tickets:
            log(f"  {done:,} / {args.tickets:,} tickets")

    written = generator.seed_tickets(
        args.tickets, entries_per_ticket=args.entries_per_ticket, progress=progress
    )
    # As `./concierge serve` does after migrating: planner statistics for the loaded data.
    call_command("optimize_database")
    return written


def make_credentials() -> dict[str, Any]:
    """An API token and a session cookie for the demo agent, and ids to use in requests."""
    from django.conf import settings
    from django.test import Client

    from concierge.accounts.actions import create_api_token
    from concierge.accounts.models import User
    from concierge.customers.models import Customer
    from concierge.demo import generator
    from concierge.tickets.models import Status, Ticket

    agent = User.objects.get(email=generator.AGENT_EMAIL)
    _, secret = create_api_token(actor=agent, name="benchmark")
    client = Client()
    client.force_login(agent)
    customer = Customer.objects.filter(custom_attributes__source="demo data").first()
    if customer is None:
        raise RuntimeError("the demo desk has no customers")
    ticket_ids = list(
        Ticket.objects.filter(assignee=agent, status__in=[Status.OPEN, Status.PENDING])
        .order_by("-updated_at")
        .values_list("pk", flat=True)[:200]
    )
    return {
        "token": secret,
        "session_cookie": (
            settings.SESSION_COOKIE_NAME,
            client.cookies[settings.SESSION_COOKIE_NAME].value,
        ),
        "customer_id": customer.pk,
        "ticket_ids": ticket_ids or [Ticket.objects.values_list("pk", flat=True).first()],
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class serve:  # noqa: N801 - used as a context manager, reads like a function
    """uvicorn running concierge.asgi on 127.0.0.1:port, for the length of a ``with`` block."""

    def __init__(self, port: int, log: Callable[[str], None]) -> None:
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        import httpx

        env = dict(os.environ)
        # As `./concierge serve` runs without Redis: the task worker inside the web process.
        env["CONCIERGE_EMBEDDED_WORKER"] = "1"
        command = [
            sys.executable, "-m", "uvicorn", "concierge.asgi:application",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 - fixed command
        base_url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.process.returncode}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    self.log(f"uvicorn ready on {base_url}")
                    return base_url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("uvicorn did not answer /healthz within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _timed(client: Any, method: str, url: str, timing: Timing, **kwargs: Any) -> None:
    import httpx

    started = time.perf_counter()
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as error:
        timing.failures[type(error).__name__] += 1
        return
    elapsed = (time.perf_counter() - started) * 1000
    if 200 <= response.status_code < 300:
        timing.latencies.append(elapsed)
    else:
        timing.failures[f"HTTP {response.status_code}"] += 1


def _create_payload(index: int, customer_id: int) -> dict[str, Any]:
    return {
        "subject": f"Benchmark ticket {index}: order hasn't arrived",
        "body": "My order still hasn't arrived. Could you tell me where it is?\n\nThanks!",
        "requester": {"id": customer_id},
        "priority": "normal",
    }


def measure_http(
    base_url: str, credentials: dict[str, Any], args: argparse.Namespace, log: Callable[[str], None]
) -> dict[str, Timing]:
    import httpx

    api_headers = {"Authorization": f"Bearer {credentials['token']}"}
    cookie_name, cookie_value = credentials["session_cookie"]
    timings: dict[str, Timing] = {}

    def api_client() -> httpx.Client:
        return httpx.Client(base_url=base_url, headers=api_headers, timeout=60)

    # Warm up: the first requests import views and fill caches.
    with api_client() as client:
        for _ in range(5):
            _timed(client, "GET", "/api/v1/tickets", Timing())

    log(f"create: {args.creates} tickets, one client")
    single = timings["create_1"] = Timing()
    started = time.perf_counter()
    with api_client() as client:
        for index in range(args.creates):
            payload = _create_payload(index, credentials["customer_id"])
            _timed(client, "POST", "/api/v1/tickets", single, json=payload)
    single.wall_seconds = time.perf_counter() - started

    log(f"create: {args.creates} tickets, eight clients")
    concurrent = timings["create_8"] = Timing()
    lock = threading.Lock()
    per_client = max(1, args.creates // 8)

    def worker(offset: int) -> None:
        local = Timing()
        with api_client() as client:
            for index in range(per_client):
                payload = _create_payload(offset + index, credentials["customer_id"])
                _timed(client, "POST", "/api/v1/tickets", local, json=payload)
        with lock:
            concurrent.latencies.extend(local.latencies)
            concurrent.failures.update(local.failures)

    threads = [threading.Thread(target=worker, args=(100_000 + n * per_client,)) for n in range(8)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    concurrent.wall_seconds = time.perf_counter() - started

    ticket_ids = credentials["ticket_ids"]
    pages: list[tuple[str, str, Callable[[int], str]]] = [
        ("inbox", "session", lambda n: "/inbox/my-open/"),
        ("ticket_page", "session", lambda n: f"/tickets/{ticket_ids[n % len(ticket_ids)]}/"),
        ("api_list", "token", lambda n: "/api/v1/tickets"),
    ]
    for key, auth, path in pages:
        log(f"latency: {key}, {args.samples} requests")
        timing = timings[key] = Timing()
        client = (
            api_client()
            if auth == "token"
            else httpx.Client(base_url=base_url, cookies={cookie_name: cookie_value}, timeout=60)
        )
        with client:
            _timed(client, "GET", path(0), Timing())  # warm-up
            started = time.perf_counter()
            for n in range(args.samples):
                _timed(client, "GET", path(n), timing)
            timing.wall_seconds = time.perf_counter() - started
    return timings


def raw_insert(count: int, customer_id: int) -> tuple[float, int]:
    """Inserts ``count`` tickets with their first entry and audit event through the bare driver.

    Column values are prepared by Django once (a template row), then the
    rows go in with ``executemany`` in one transaction; ids are assigned
    here so the entries can point at their tickets without a round trip.
    """
    from django.db import connection
    from django.utils import timezone

    from concierge.tickets.models import AuditEvent, Channel, Entry, EntryKind, Ticket

    now = timezone.now()
    template_ticket = Ticket(
        subject="Raw insert", requester_id=customer_id, channel=Channel.API,
        created_at=now, updated_at=now, last_customer_activity_at=now,
    )  # fmt: skip
    body = "My order still hasn't arrived."
    template_entry = Entry(
        ticket_id=0, kind=EntryKind.PUBLIC_REPLY, author_customer_id=customer_id,
        body_source=body, body_html=f"<p>{body}</p>", channel=Channel.API, created_at=now,
    )  # fmt: skip
    template_audit = AuditEvent(
        ticket_id=0, field="created", after="New", actor_customer_id=customer_id, via="api",
        created_at=now,
    )  # fmt: skip

    def prepared(obj: Any) -> tuple[list[str], list[Any]]:
        fields = [f for f in obj._meta.concrete_fields if not f.primary_key]
        values = [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
        return [connection.ops.quote_name(f.column) for f in fields], values

    ticket_columns, ticket_values = prepared(template_ticket)
    entry_columns, entry_values = prepared(template_entry)
    audit_columns, audit_values = prepared(template_audit)
    ticket_table = connection.ops.quote_name(Ticket._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {ticket_table}")
        first_id = int(cursor.fetchone()[0]) + 1
    subject_at = [c.strip('"') for c in ticket_columns].index("subject")
    ticket_at = [c.strip('"') for c in entry_columns].index("ticket_id")
    audit_ticket_at = [c.strip('"') for c in audit_columns].index("ticket_id")

    tickets, entries, audits = [], [], []
    for offset in range(count):
        ticket_id = first_id + offset
        row = [ticket_id, *ticket_values]
        row[1 + subject_at] = f"Raw insert {offset}"
        tickets.append(row)
        entry = list(entry_values)
        entry[ticket_at] = ticket_id
        entries.append(entry)
        audit = list(audit_values)
        audit[audit_ticket_at] = ticket_id
        audits.append(audit)

    def insert_sql(table: str, columns: list[str], marker: str, with_id: bool) -> str:
        names = (['"id"'] if with_id else []) + columns
        placeholders = ", ".join([marker] * len(names))
        return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})"

    q = connection.ops.quote_name
    statements = [
        (insert_sql(ticket_table, ticket_columns, "%s", True), tickets),
        (insert_sql(q(Entry._meta.db_table), entry_columns, "%s", False), entries),
        (insert_sql(q(AuditEvent._meta.db_table), audit_columns, "%s", False), audits),
    ]
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        import sqlite3

        raw = sqlite3.connect(settings_dict["NAME"], isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        started = time.perf_counter()
        raw.execute("BEGIN")
        for sql_text, rows in statements:
            raw.executemany(sql_text.replace("%s", "?"), rows)
        raw.execute("COMMIT")
        elapsed = time.perf_counter() - started
        raw.close()
    else:
        import psycopg

        raw_pg = psycopg.connect(
            dbname=settings_dict["NAME"], user=settings_dict["USER"] or None,
            password=settings_dict["PASSWORD"] or None, host=settings_dict["HOST"] or None,
            port=settings_dict["PORT"] or None,
        )  # fmt: skip
        started = time.perf_counter()
        with raw_pg.cursor() as pg_cursor:
            for sql_text, rows in statements:
                pg_cursor.executemany(sql_text, rows)
        raw_pg.commit()
        elapsed = time.perf_counter() - started
        # Ids were assigned here: move the sequence past them for later inserts.
        raw_pg.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
            [Ticket._meta.db_table, first_id + count - 1],
        )
        raw_pg.commit()
        raw_pg.close()
    return elapsed, count


def report(
    args: argparse.Namespace, label: str, timings: dict[str, Timing], raw_per_second: float,
    seed_seconds: float,
) -> tuple[list[dict[str, object]], dict[str, object]]:  # fmt: skip
    from bench.common import percentile

    def rate(timing: Timing) -> float | None:
        ok = len(timing.latencies)
        return round(ok / timing.wall_seconds, 1) if ok and timing.wall_seconds else None

    def pct(timing: Timing, p: float) -> float | None:
        return round(percentile(timing.latencies, p), 1) if timing.latencies else None

    titles = {
        "create_1": "POST /api/v1/tickets, 1 client",
        "create_8": "POST /api/v1/tickets, 8 clients",
        "inbox": "GET /inbox/my-open/ (agent session)",
        "ticket_page": "GET /tickets/<id>/ (agent session)",
        "api_list": "GET /api/v1/tickets (token)",
    }
    rows: list[dict[str, object]] = []
    for key, title in titles.items():
        timing = timings[key]
        rows.append({
            "measure": title, "requests": timing.requests, "errors": sum(timing.failures.values()),
            "per s": rate(timing), "p50 ms": pct(timing, 50), "p95 ms": pct(timing, 95),
            "of raw": None, "note": timing.note(),
        })  # fmt: skip
    raw_row: dict[str, object] = {
        "measure": "raw insert, driver executemany (ticket+entry+audit)", "requests": args.raw_rows,
        "errors": 0, "per s": round(raw_per_second, 1), "p50 ms": None, "p95 ms": None,
        "of raw": None, "note": "one transaction",
    }  # fmt: skip
    for row in rows[:2]:
        if isinstance(row["per s"], float) and raw_per_second:
            row["of raw"] = f"{100 * row['per s'] / raw_per_second:.2f}%"
    rows.append(raw_row)
    summary: dict[str, object] = {
        "benchmark": NAME,
        "database": label,
        "tickets": args.tickets,
        "entries_per_ticket": args.entries_per_ticket,
        "seed_seconds": round(seed_seconds, 1),
        "create_1_client_per_s": rate(timings["create_1"]),
        "create_8_clients_per_s": rate(timings["create_8"]),
        "create_1_client_p50_ms": pct(timings["create_1"], 50),
        "create_8_clients_p95_ms": pct(timings["create_8"], 95),
        "raw_insert_per_s": round(raw_per_second, 1),
        "inbox_my_open_p50_ms": pct(timings["inbox"], 50),
        "inbox_my_open_p95_ms": pct(timings["inbox"], 95),
        "ticket_page_p50_ms": pct(timings["ticket_page"], 50),
        "ticket_page_p95_ms": pct(timings["ticket_page"], 95),
        "api_list_p50_ms": pct(timings["api_list"], 50),
        "api_list_p95_ms": pct(timings["api_list"], 95),
        "errors": {
            key: dict(timing.failures) for key, timing in timings.items() if timing.failures
        },
    }
    create_1 = summary["create_1_client_per_s"]
    if isinstance(create_1, float) and raw_per_second:
        summary["api_1_client_to_raw_ratio"] = round(create_1 / raw_per_second, 4)
    return rows, summary


if __name__ == "__main__":
    sys.exit(main())
