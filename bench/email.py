"""Email benchmark: maildir import throughput and IMAP IDLE delivery latency.

    ./concierge bench email              10,000 messages per run, 200 IDLE deliveries
    ./concierge bench email --quick      1,000 messages, 50 deliveries: about a minute a database

Each database gets its own pass in a child process: SQLite in a temporary
file always, PostgreSQL when DATABASE_URL points at one (in a scratch
database, ``concierge_bench_email``, created and dropped here). A pass:

1. writes N varied messages into a maildir (plain text, HTML with a text
   part, attachments, replies threading into earlier messages, ~10 % each
   from a few hundred senders) — twice, with distinct senders and ids, one
   set per run below;
2. imports the first set with one worker process and the second with two
   (the maildir split between them): each worker stores every message raw
   (``receive_raw_message``) and processes it into a ticket or entry, the
   work ``mail_fetch`` and the task worker do together. Figure: messages/s
   of wall time, all workers together;
3. starts Dovecot on loopback, watches a mailbox with the IDLE watcher
   (processing inline), APPENDs messages one at a time and measures from
   the APPEND's completion to the ticket being committed (p50 / p95).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bench.common import databases_to_run, run_child_pass

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "concierge_bench_email"
NAME = "email"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.email", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages per import run")
    parser.add_argument("--deliveries", type=int, default=200, help="IMAP IDLE deliveries timed")
    parser.add_argument("--quick", action="store_true", help="1,000 messages, 50 deliveries")
    parser.add_argument("--database", choices=["all", "sqlite", "postgresql"], default="all")
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    parser.add_argument("--import-files", help=argparse.SUPPRESS)
    parser.add_argument("--mailbox-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.deliveries = 1000, 50
    return args


# --- parent: one child per database ------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.import_files:
        return import_worker(args)
    if args.child:
        return child_main(args)
    databases = databases_to_run(args.database)
    if databases is None:
        return 2
    results = {}
    for database in databases:
        summary = run_child_pass(
            module="bench.email",
            database=database,
            argv=argv,
            scratch_database=BENCH_DATABASE,
            # processing runs in the importing worker
            extra_env={"TASK_BACKEND": "immediate"},
        )
        if summary is not None:
            results[database] = summary
    print(json.dumps({"benchmark": NAME, "passes": results}, default=str), flush=True)
    return 0 if len(results) == len(databases) else 1


# --- messages ----------------------------------------------------------------------------

WORDS = (
    "order delivery refund invoice account password shipping broken replace warranty "
    "payment card address tracking late damaged return exchange size colour subscription "
    "cancel upgrade plan login error screen app update billing receipt discount coupon"
).split()


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def make_message(rng: random.Random, tag: str, n: int, earlier: list[str]) -> bytes:
    """One varied message: plain, HTML + text, with attachments, or a reply to an earlier one."""
    kind = rng.choices(["plain", "html", "attachment", "reply"], weights=[40, 25, 15, 20])[0]
    if kind == "reply" and not earlier:
        kind = "plain"
    sender = rng.randrange(300)
    message = EmailMessage(policy=policy.default)
    message["From"] = f"Customer {sender} <customer{sender}@{tag}.example>"
    message["To"] = "Support <help@acme.test>"
    message["Date"] = "Mon, 02 Jun 2025 10:00:00 +0000"
    message_id = f"{tag}-{n}@{tag}.example"
    message["Message-ID"] = f"<{message_id}>"
    body = "\n\n".join(_sentence(rng, rng.randint(6, 20)) for _ in range(rng.randint(1, 5)))
    if kind == "reply":
        parent = rng.choice(earlier)
        message["Subject"] = "Re: " + _sentence(rng, 4)
        message["In-Reply-To"] = f"<{parent}>"
        message["References"] = f"<{parent}>"
        body += "\n\nOn Mon, Jun 2, 2025 at 9:00 AM Support wrote:\n> " + _sentence(rng, 12)
    else:
        message["Subject"] = _sentence(rng, rng.randint(3, 8)).rstrip(".")
    message.set_content(body)
    if kind == "html":
        paragraphs = "".join(f"<p>{part}</p>" for part in body.split("\n\n"))
        message.add_alternative(f"<html><body>{paragraphs}</body></html>", subtype="html")
    if kind == "attachment":
        for index in range(rng.randint(1, 2)):
            message.add_attachment(
                rng.randbytes(rng.randint(2_000, 60_000)),
                maintype="application",
                subtype="pdf",
                filename=f"document-{index}.pdf",
            )
    earlier.append(message_id)
    return message.as_bytes()


def write_maildir(folder: Path, count: int, tag: str, seed: int) -> list[Path]:
    """A maildir (``new/`` of one file per message) of ``count`` varied messages."""
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)  # noqa: S311 - test data
    earlier: list[str] = []
    paths = []
    for n in range(count):
        path = folder / "new" / f"{n:06d}.{tag}.bench:2,"
        path.write_bytes(make_message(rng, tag, n, earlier))
        paths.append(path)
    return paths


# --- child: one database -------------------------------------------------------------------


def import_worker(args: argparse.Namespace) -> int:
    """Imports the maildir files listed in ``--import-files`` (one worker process)."""
    import logging

    import django

    django.setup()
    logging.getLogger("django_tasks").setLevel(logging.WARNING)
    from concierge.mail.actions import receive_raw_message
    from concierge.mail.models import InboundSource, Mailbox

    mailbox = Mailbox.objects.get(pk=args.mailbox_id)
    for line in Path(args.import_files).read_text().splitlines():
        receive_raw_message(mailbox=mailbox, raw=Path(line).read_bytes(), source=InboundSource.SMTP)
    return 0


def import_run(
    scratch: Path, env: dict[str, str], mailbox_id: int, paths: list[Path], workers: int
) -> float:
    """Wall seconds for ``workers`` processes to import ``paths`` (split round-robin)."""
    lists = []
    for index in range(workers):
        listing = scratch / f"import-{mailbox_id}-{index}.txt"
        listing.write_text("\n".join(str(path) for path in paths[index::workers]))
        lists.append(listing)
    started = time.monotonic()
    processes = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "bench.email",
                "--import-files",
                str(listing),
                "--mailbox-id",
                str(mailbox_id),
            ],  # fmt: skip
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for listing in lists
    ]
    codes = [process.wait() for process in processes]
    elapsed = time.monotonic() - started
    if any(codes):
        raise RuntimeError(f"an import worker failed: exit codes {codes}")
    return elapsed


def idle_latency(deliveries: int, log: Any) -> list[float]:
    """Seconds from IMAP APPEND to a committed ticket, per message, with the IDLE watcher."""
    from concierge.mail.imap import ImapWatcher
    from concierge.mail.models import InboundMessage, InboundStatus, Mailbox
    from tests.mail.real_servers import PASSWORD, start_dovecot

    dovecot = start_dovecot()
    try:
        user = dovecot.new_account()
        mailbox = Mailbox.objects.create(
            name="IDLE",
            address="idle@acme.test",
            imap_host=dovecot.host,
            imap_port=dovecot.port,
            imap_use_ssl=False,
            imap_user=user,
            imap_password=PASSWORD,
            max_messages_per_sender_per_hour=100_000,
        )
        stop = threading.Event()
        watcher = ImapWatcher(mailbox, use_idle=True, stop_event=stop)
        thread = threading.Thread(target=watcher.run_forever, daemon=True)
        thread.start()
        client = dovecot.client(user)
        rng = random.Random(7)  # noqa: S311 - test data
        earlier: list[str] = []
        latencies: list[float] = []
        time.sleep(0.5)  # the watcher connects and enters IDLE
        for n in range(deliveries):
            raw = make_message(rng, "idle", n, earlier)
            message_id = earlier[-1]
            client.append("INBOX", raw)
            appended = time.monotonic()
            deadline = appended + 30
            while time.monotonic() < deadline:
                if InboundMessage.objects.filter(
                    mailbox=mailbox, message_id=message_id, status=InboundStatus.PROCESSED
                ).exists():
                    latencies.append(time.monotonic() - appended)
                    break
                time.sleep(0.002)
            else:
                log(f"delivery {n} not visible within 30 s")
        client.logout()
        stop.set()
        thread.join(timeout=10)
        return latencies
    finally:
        dovecot.stop()


def child_main(args: argparse.Namespace) -> int:
    import logging

    import django

    django.setup()
    logging.getLogger("django_tasks").setLevel(logging.WARNING)  # two lines per message otherwise
    from django.core.management import call_command

    from bench.common import append_results, database_label, percentile, print_table
    from concierge.mail.models import InboundMessage, InboundStatus, Mailbox
    from tests.mail.real_servers import dovecot_binary

    started_at = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started_at:6.1f}s] {message}", file=sys.stderr, flush=True)

    scratch = Path(os.environ["BENCH_SCRATCH"])
    label = database_label()
    log(f"{label}: migrating")
    call_command("migrate", verbosity=0, interactive=False)
    env = {**os.environ}

    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"benchmark": NAME, "database": label, "messages": args.messages}
    for workers in (1, 2):
        tag = f"run{workers}"
        log(f"writing {args.messages:,} messages into a maildir ({tag})")
        paths = write_maildir(scratch / f"maildir-{tag}", args.messages, tag, seed=workers)
        size_mb = sum(path.stat().st_size for path in paths) / (1024 * 1024)
        mailbox = Mailbox.objects.create(
            name=tag,
            address=f"help@{tag}.acme.test",
            max_messages_per_sender_per_hour=100_000,
        )
        log(f"importing with {workers} worker(s)")
        seconds = import_run(scratch, env, mailbox.pk, paths, workers)
        imported = InboundMessage.objects.filter(mailbox=mailbox)
        processed = imported.filter(status=InboundStatus.PROCESSED).count()
        per_second = args.messages / seconds
        rows.append(
            {
                "measure": f"maildir import, {workers} worker(s)",
                "messages": args.messages,
                "MB": round(size_mb, 1),
                "seconds": round(seconds, 1),
                "per s": round(per_second, 1),
                "processed": processed,
                "tickets": imported.values("ticket_id").distinct().count(),
            }
        )
        summary[f"import_{workers}_worker_per_s"] = round(per_second, 1)
        summary[f"import_{workers}_worker_processed"] = processed
        log(f"{workers} worker(s): {per_second:.1f} messages/s, {processed} processed")

    if dovecot_binary() is None:
        log("dovecot not installed: IDLE latency skipped (apt-get install dovecot-imapd)")
        summary["idle_latency"] = "skipped: dovecot not installed"
    else:
        log(f"IMAP IDLE: {args.deliveries} deliveries")
        latencies = idle_latency(args.deliveries, log)
        if latencies:
            p50, p95 = percentile(latencies, 50) * 1000, percentile(latencies, 95) * 1000
            rows.append(
                {
                    "measure": "IMAP APPEND -> ticket visible (IDLE)",
                    "messages": len(latencies),
                    "p50 ms": round(p50, 1),
                    "p95 ms": round(p95, 1),
                }
            )
            summary["idle_p50_ms"], summary["idle_p95_ms"] = round(p50, 1), round(p95, 1)
            summary["idle_deliveries"] = len(latencies)
    print_table(f"Email benchmark: {label}", rows)
    append_results(f"{NAME} ({label})", rows, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
