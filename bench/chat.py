"""Chat benchmark: thousands of visitor sockets on one node (and on two nodes over Redis).

    ./concierge bench chat                    1,000 then 5,000 visitors, 1 node then 2 nodes
    ./concierge bench chat --quick            200 visitors, shorter windows: about two minutes
    ./concierge bench chat --connections 1000 --nodes 1

What one pass does:

1. seeds a scratch database (PostgreSQL ``concierge_bench_chat`` when
   DATABASE_URL points at PostgreSQL, else a SQLite file): a chat channel,
   N visitors each with a token and an open chat (rows inserted in bulk), a
   few agents with a signed-in session and an API token;
2. starts the real ASGI app under uvicorn (``concierge.asgi``), one node with
   the in-memory channel layer, or two nodes sharing Redis (``REDIS_URL``,
   default ``redis://127.0.0.1:6379/12``); tasks are queued in the database
   and not run (no worker), so the figures are the chat path alone;
3. this process (the load generator) opens N visitor WebSockets
   (``/ws/widget/``, with the channel's Origin) and resumes each with its
   token; agent sockets (``/ws/agent/``) follow a sample of the chats;
4. for ``--duration`` seconds agents reply through the REST API at
   ``--reply-rate`` per second to random chats, and sampled visitors write
   at ``--visitor-rate`` per second. Each message carries its send time:
   agent -> visitor latency is measured when the visitor's socket shows the
   reply, visitor -> agent when the agent's socket gets the entry.

Reported per pass: connections held, connect time, latency p50/p99 both
ways, messages delivered per second, server CPU (share of one core over the
window and CPU ms per delivered message) and memory (RSS, and its growth per
connection). The file-descriptor limit is raised to the hard limit first;
5,000 sockets need about 10,000 descriptors on this machine (both ends).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    append_results,
    is_postgres_url,
    percentile,
    print_table,
    recreate_postgres_database,
    with_database_name,
)

ROOT = Path(__file__).resolve().parent.parent
NAME = "chat"
BENCH_DATABASE = "concierge_bench_chat"
ORIGIN = "https://bench.example.com"
AGENTS = 4
TICKETS_PER_AGENT_SOCKET = 20  # the agent socket's subscription limit
MARKER = re.compile(r"bench-(a2v|v2a)-(\d+)-(\d+\.\d+)")
CONNECT_CONCURRENCY = 100


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.chat", description=__doc__.split("\n")[0])
    parser.add_argument("--connections", default="1000,5000", help="visitor sockets per pass")
    parser.add_argument(
        "--nodes",
        default="1,2",
        help='server nodes per pass: 1 (in-memory channel layer), 2 (Redis), "1r" (1 on Redis)',
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per pass")
    parser.add_argument("--reply-rate", type=float, default=20.0, help="agent replies per second")
    parser.add_argument("--visitor-rate", type=float, default=10.0, help="visitor messages/s")
    parser.add_argument("--quick", action="store_true", help="200 visitors, 8 s windows")
    return parser.parse_args(argv)


# --- the scratch database and its rows -------------------------------------------------


@dataclass
class Seed:
    database_url: str
    public_key: str
    visitors: list[tuple[str, int]]  # (token, ticket id)
    agent_sessions: list[str]
    agent_tokens: list[str]


def _django_environment(database_url: str) -> dict[str, str]:
    return {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "concierge.settings",
        "DATABASE_URL": database_url,
        "TASK_BACKEND": "database",
        "CONCIERGE_EMBEDDED_WORKER": "0",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "0",
        # Under ASGI each request runs in its own thread: a per-thread persistent
        # connection piles up past max_connections, and reconnecting per call costs
        # more than the chat itself. One pool per node serves every thread.
        "DATABASE_POOL": "1" if is_postgres_url(database_url) else "0",
        "DATABASE_CONN_MAX_AGE": "0",
        # Bulk-seeded visitors never call the session endpoint; keep limits off the path.
        "CHAT_RATE_LIMIT_MESSAGES": "1000",
        "CHAT_SOCKET_RATE_LIMIT": "1000",
    }


def seed(database_url: str, visitors: int, scratch: Path) -> Seed:
    """Migrates the scratch database and inserts the bench's rows in bulk (this process)."""
    os.environ.update(_django_environment(database_url))
    os.environ["CONCIERGE_VAR_DIR"] = str(scratch / "var")
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.utils import timezone

    from concierge.accounts.actions import create_api_token
    from concierge.accounts.models import Availability, Role, User
    from concierge.chat.models import ChatChannel, ChatConversation, ChatVisitor, ChatVisitorToken
    from concierge.chat.services import hash_token
    from concierge.customers.models import Customer
    from concierge.tickets.models import Channel, Entry, EntryKind, Status, Ticket

    print("migrating the scratch database ...", file=sys.stderr, flush=True)
    call_command("migrate", verbosity=0)
    channel = ChatChannel.objects.create(name="Bench chat", allowed_origins=[ORIGIN])
    sessions, tokens = [], []
    for number in range(AGENTS):
        agent = User.objects.create_user(
            f"bench.agent{number}@example.com", secrets.token_urlsafe(12),
            name=f"Bench Agent {number}", role=Role.AGENT, availability=Availability.ONLINE,
        )  # fmt: skip
        session = SessionStore()
        session[SESSION_KEY] = str(agent.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = agent.get_session_auth_hash()
        session.create()
        sessions.append(str(session.session_key))
        tokens.append(create_api_token(actor=agent, name="bench")[1])
    print(f"seeding {visitors:,} visitors with an open chat each ...", file=sys.stderr, flush=True)
    now = timezone.now()
    customers = Customer.objects.bulk_create(
        [Customer(name=f"Bench visitor {n}") for n in range(visitors)], batch_size=1000
    )
    chat_visitors = ChatVisitor.objects.bulk_create(
        [ChatVisitor(channel=channel, customer=c) for c in customers], batch_size=1000
    )
    secrets_by_visitor = ["cv_" + secrets.token_urlsafe(32) for _ in chat_visitors]
    ChatVisitorToken.objects.bulk_create(
        [
            ChatVisitorToken(visitor=v, token_hash=hash_token(t))
            for v, t in zip(chat_visitors, secrets_by_visitor, strict=True)
        ],
        batch_size=1000,
    )
    tickets = Ticket.objects.bulk_create(
        [
            Ticket(subject=f"Chat: bench {n}", channel=Channel.CHAT, requester=c,
                   status=Status.OPEN, last_customer_activity_at=now)
            for n, c in enumerate(customers)
        ],
        batch_size=1000,
    )  # fmt: skip
    Entry.objects.bulk_create(
        [
            Entry(ticket=t, kind=EntryKind.PUBLIC_REPLY, author_customer=t.requester,
                  body_source="Hello", body_html="<p>Hello</p>", channel=Channel.CHAT)
            for t in tickets
        ],
        batch_size=1000,
    )  # fmt: skip
    ChatConversation.objects.bulk_create(
        [
            ChatConversation(ticket=t, channel=channel, visitor=v, last_message_at=now)
            for t, v in zip(tickets, chat_visitors, strict=True)
        ],
        batch_size=1000,
    )
    from django.db import connections

    connections.close_all()
    return Seed(
        database_url=database_url,
        public_key=channel.public_key,
        visitors=[(token, t.pk) for token, t in zip(secrets_by_visitor, tickets, strict=True)],
        agent_sessions=sessions,
        agent_tokens=tokens,
    )


# --- server nodes ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def start_nodes(count: int, seeded: Seed, scratch: Path, redis_url: str | None) -> list[Node]:
    environment = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    environment.update(_django_environment(seeded.database_url))
    environment["CONCIERGE_VAR_DIR"] = str(scratch / "var")
    environment["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    if redis_url:
        environment["REDIS_URL"] = redis_url
    nodes = []
    for index in range(count):
        port = _free_port()
        log = scratch / f"node{index}.log"
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "uvicorn", "concierge.asgi:application", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--ws", "websockets",
             "--backlog", "4096"],
            cwd=ROOT, env=environment, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        nodes.append(Node(port=port, process=process, log=log))
    import httpx

    for node in nodes:
        deadline = time.monotonic() + 90
        while True:
            if node.process.poll() is not None:
                raise RuntimeError(f"node exited:\n{node.log.read_text()[-3000:]}")
            try:
                if httpx.get(node.http + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("node did not start in 90 s")
            time.sleep(0.3)
    return nodes


def stop_nodes(nodes: list[Node]) -> None:
    for node in nodes:
        node.process.terminate()
    for node in nodes:
        try:
            node.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node.process.kill()


def process_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds used so far, resident memory in MB) of a process, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_kb = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return cpu, rss_kb / 1024


# --- the load generator ----------------------------------------------------------------


@dataclass
class Stats:
    connected: int = 0
    connect_failures: int = 0
    a2v: list[float] = field(default_factory=list)
    v2a: list[float] = field(default_factory=list)
    sent_a2v: int = 0
    sent_v2a: int = 0
    errors: list[str] = field(default_factory=list)
    measuring: bool = False


def _latency(stats: Stats, body_html: str, direction: str) -> None:
    match = MARKER.search(body_html)
    if match and match.group(1) == direction and stats.measuring:
        (stats.a2v if direction == "a2v" else stats.v2a).append(
            (time.time() - float(match.group(3))) * 1000
        )


async def visitor_socket(
    url: str, token: str, stats: Stats, sockets: dict[int, Any], ticket_id: int,
    gate: asyncio.Semaphore, stop: asyncio.Event,
) -> None:  # fmt: skip
    from websockets.asyncio.client import connect

    try:
        async with gate:
            ws = await connect(url, origin=ORIGIN, open_timeout=120, ping_interval=None)  # type: ignore[arg-type]
            await ws.send(json.dumps({"type": "resume", "token": token, "last_event_id": 0}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if frame.get("type") == "ready":
                    break
                if frame.get("type") == "error":
                    raise RuntimeError(frame.get("message"))
        stats.connected += 1
        sockets[ticket_id] = ws
    except Exception as error:  # a refused or timed-out connection is a result, not a crash
        stats.connect_failures += 1
        if len(stats.errors) < 5:
            stats.errors.append(f"connect: {type(error).__name__}: {error}")
        return
    try:
        # Ends when the driver closes the socket (see run_load): no polling per socket.
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "event" and frame.get("kind") == "entry.created":
                data = frame.get("data") or {}
                if data.get("from") == "agent":
                    _latency(stats, data.get("body_html", ""), "a2v")
    except Exception as error:
        if not stop.is_set() and len(stats.errors) < 5:
            stats.errors.append(f"visitor socket: {type(error).__name__}: {error}")
    finally:
        await ws.close()


async def agent_socket(
    url: str, session: str, ticket_ids: list[int], stats: Stats, stop: asyncio.Event
) -> None:
    from websockets.asyncio.client import connect

    origin = url.replace("ws://", "http://").split("/ws/")[0]
    async with connect(
        url, origin=origin, additional_headers={"Cookie": f"sessionid={session}"},  # type: ignore[arg-type]
        ping_interval=None, open_timeout=60,
    ) as ws:  # fmt: skip
        for ticket_id in ticket_ids:
            await ws.send(json.dumps({"type": "subscribe", "ticket_id": ticket_id}))
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                continue
            frame = json.loads(raw)
            if frame.get("type") == "event" and frame.get("kind") == "entry.created":
                data = frame.get("data") or {}
                if data.get("author_type") == "customer":
                    _latency(stats, data.get("body_html", ""), "v2a")


async def agent_replies(
    base: str, tokens: list[str], ticket_ids: list[int], rate: float, stats: Stats,
    stop: asyncio.Event,
) -> None:  # fmt: skip
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        pending: set[asyncio.Task[Any]] = set()
        sequence = 0
        interval = 1.0 / rate
        next_at = time.monotonic()
        while not stop.is_set():
            sequence += 1
            ticket_id = random.choice(ticket_ids)  # noqa: S311 - load, not security
            token = tokens[sequence % len(tokens)]
            body = f"Reply bench-a2v-{sequence}-{time.time():.6f}"

            async def post(
                ticket_id: int = ticket_id, token: str = token, body: str = body
            ) -> None:
                response = await client.post(
                    f"/api/v1/tickets/{ticket_id}/entries",
                    json={"kind": "reply", "body": body},
                    headers={"Authorization": f"Bearer {token}"},
                )
                if response.status_code >= 400 and len(stats.errors) < 5:
                    stats.errors.append(f"reply {response.status_code}: {response.text[:200]}")

            task = asyncio.create_task(post())
            pending.add(task)
            task.add_done_callback(pending.discard)
            stats.sent_a2v += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if pending:
            await asyncio.wait(pending, timeout=30)


async def visitor_messages(
    sockets: dict[int, Any], sampled: list[int], rate: float, stats: Stats, stop: asyncio.Event
) -> None:
    sequence = 0
    interval = 1.0 / rate
    next_at = time.monotonic()
    while not stop.is_set():
        sequence += 1
        ticket_id = random.choice(sampled)  # noqa: S311 - load, not security
        ws = sockets.get(ticket_id)
        if ws is not None:
            body = f"Question bench-v2a-{sequence}-{time.time():.6f}"
            try:
                await ws.send(
                    json.dumps({"type": "message", "ticket_id": ticket_id, "body": body,
                                "client_id": str(sequence)})
                )  # fmt: skip
                stats.sent_v2a += 1
            except Exception as error:
                if len(stats.errors) < 5:
                    stats.errors.append(f"visitor send: {error}")
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def run_load(
    nodes: list[Node], seeded: Seed, connections: int, args: argparse.Namespace
) -> dict[str, Any]:
    stats = Stats()
    stop = asyncio.Event()
    sockets: dict[int, Any] = {}
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    visitors = seeded.visitors[:connections]
    pids = [node.process.pid for node in nodes]
    before = [process_usage(pid) for pid in pids]
    started = time.monotonic()
    visitor_tasks = [
        asyncio.create_task(
            visitor_socket(
                f"{nodes[index % len(nodes)].ws}/ws/widget/?key={seeded.public_key}",
                token,
                stats,
                sockets,
                ticket_id,
                gate,
                stop,
            )  # fmt: skip
        )
        for index, (token, ticket_id) in enumerate(visitors)
    ]
    while stats.connected + stats.connect_failures < len(visitors):
        await asyncio.sleep(0.2)
        if time.monotonic() - started > 600:
            break
    connect_seconds = time.monotonic() - started
    print(
        f"  {stats.connected:,} visitor sockets open in {connect_seconds:.1f} s "
        f"({stats.connect_failures} failed)",
        file=sys.stderr,
        flush=True,
    )
    held = [process_usage(pid) for pid in pids]
    # Agents follow a sample of the chats (the agent socket follows up to 20 tickets).
    agent_node = nodes[-1]
    sampled = [ticket_id for _, ticket_id in visitors[: AGENTS * TICKETS_PER_AGENT_SOCKET]]
    agent_tasks = [
        asyncio.create_task(
            agent_socket(
                f"{agent_node.ws}/ws/agent/",
                session,
                sampled[n * TICKETS_PER_AGENT_SOCKET : (n + 1) * TICKETS_PER_AGENT_SOCKET],
                stats,
                stop,
            )  # fmt: skip
        )
        for n, session in enumerate(seeded.agent_sessions)
    ]
    await asyncio.sleep(2.0)  # subscriptions settle
    window_start = [process_usage(pid) for pid in pids]
    stats.measuring = True
    load_stop = asyncio.Event()
    loaders = [
        asyncio.create_task(
            agent_replies(nodes[0].http, seeded.agent_tokens,
                          [t for _, t in visitors], args.reply_rate, stats, load_stop)
        ),
        asyncio.create_task(
            visitor_messages(sockets, sampled, args.visitor_rate, stats, load_stop)
        ),
    ]  # fmt: skip
    await asyncio.sleep(args.duration)
    load_stop.set()
    await asyncio.gather(*loaders, return_exceptions=True)
    await asyncio.sleep(3.0)  # let in-flight deliveries land
    stats.measuring = False
    window_end = [process_usage(pid) for pid in pids]
    window_seconds = args.duration + 3.0
    stop.set()
    await asyncio.gather(*(ws.close() for ws in sockets.values()), return_exceptions=True)
    await asyncio.gather(*visitor_tasks, *agent_tasks, return_exceptions=True)

    delivered = len(stats.a2v) + len(stats.v2a)
    cpu_seconds = sum(
        end[0] - start[0] for start, end in zip(window_start, window_end, strict=True)
    )
    rss_held = sum(usage[1] for usage in held)
    rss_before = sum(usage[1] for usage in before)
    return {
        "nodes": len(nodes),
        "connections": connections,
        "held": stats.connected,
        "failed": stats.connect_failures,
        "connect s": round(connect_seconds, 1),
        "a2v sent": stats.sent_a2v,
        "a2v got": len(stats.a2v),
        "a2v p50 ms": round(percentile(stats.a2v, 50), 1) if stats.a2v else None,
        "a2v p99 ms": round(percentile(stats.a2v, 99), 1) if stats.a2v else None,
        "v2a sent": stats.sent_v2a,
        "v2a got": len(stats.v2a),
        "v2a p50 ms": round(percentile(stats.v2a, 50), 1) if stats.v2a else None,
        "v2a p99 ms": round(percentile(stats.v2a, 99), 1) if stats.v2a else None,
        "msgs/s": round(delivered / window_seconds, 1),
        "server CPU %": round(100 * cpu_seconds / window_seconds, 1),
        "CPU ms/msg": round(1000 * cpu_seconds / delivered, 1) if delivered else None,
        "server RSS MB": round(rss_held, 1),
        "KB/conn": round(1024 * (rss_held - rss_before) / max(stats.connected, 1), 1),
        "errors": "; ".join(stats.errors)[:300],
    }


# --- driver ----------------------------------------------------------------------------


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.connections, args.duration = "200", 8.0
    connection_counts = [int(n) for n in args.connections.split(",") if n.strip()]
    node_specs = [n.strip() for n in args.nodes.split(",") if n.strip()]
    fd_limit = raise_fd_limit()
    print(f"file descriptor limit: {fd_limit:,}", file=sys.stderr)
    given_url = os.environ.get("DATABASE_URL", "")
    scratch = Path(tempfile.mkdtemp(prefix="concierge-bench-chat-"))
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/12"
    if is_postgres_url(given_url):
        recreate_postgres_database(given_url, BENCH_DATABASE)
        database_url = with_database_name(given_url, BENCH_DATABASE)
    else:
        database_url = f"sqlite:///{scratch / 'bench.sqlite3'}"
    rows: list[dict[str, Any]] = []
    try:
        seeded = seed(database_url, max(connection_counts), scratch)
        for spec in node_specs:
            nodes_count = int(spec.rstrip("r"))
            use_redis = nodes_count > 1 or spec.endswith("r")
            for connections in connection_counts:
                if use_redis and not _redis_answers(redis_url):
                    print(f"Redis not reachable at {redis_url}: two-node pass skipped",
                          file=sys.stderr)  # fmt: skip
                    continue
                if use_redis:
                    import redis

                    redis.Redis.from_url(redis_url).flushdb()
                print(f"pass: {nodes_count} node(s), {connections:,} visitors", file=sys.stderr)
                nodes = start_nodes(nodes_count, seeded, scratch, redis_url if use_redis else None)
                try:
                    row = asyncio.run(run_load(nodes, seeded, connections, args))
                    row = {"layer": "redis" if use_redis else "in-memory", **row}
                finally:
                    stop_nodes(nodes)
                    if row_errors := [n.log.read_text(errors="replace") for n in nodes]:
                        tail = "\n".join(
                            log[log.index("Traceback") :][:3000]
                            for log in row_errors
                            if "Traceback" in log
                        )
                        if tail:
                            print(f"server log (tail):\n{tail}", file=sys.stderr)
                rows.append(row)
                print_table("so far", rows)
    finally:
        if is_postgres_url(given_url):
            from django.db import connections as django_connections

            django_connections.close_all()
            recreate_postgres_database(given_url, BENCH_DATABASE, drop_only=True)
        shutil.rmtree(scratch, ignore_errors=True)
    print_table("Chat: visitor sockets, agent replies over the API, latency both ways", rows)
    summary: dict[str, Any] = {
        "benchmark": NAME,
        "fd_limit": fd_limit,
        "reply_rate": args.reply_rate,
        "visitor_rate": args.visitor_rate,
        "duration_s": args.duration,
    }
    for row in rows:
        prefix = f"n{row['nodes']}_{row['layer']}_c{row['connections']}"
        for key in ("held", "a2v p50 ms", "a2v p99 ms", "v2a p50 ms", "v2a p99 ms", "msgs/s",
                    "server CPU %", "KB/conn"):  # fmt: skip
            summary[f"{prefix}_{key.replace(' ', '_').replace('/', '_per_')}"] = row[key]
    append_results(
        f"chat ({'PostgreSQL' if is_postgres_url(given_url) else 'SQLite'})", rows, summary
    )
    return 0


def _redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


if __name__ == "__main__":
    sys.exit(main())
