"""MIME robustness: every message of the shared corpus through the real inbound pipeline.

    ./concierge eval mime [--data DIR]

Each message of ../shared/data/email/mime/messages is received (`receive_raw_message`)
and processed (`process_inbound_message`) on a throwaway SQLite database and media
folder. A message is *handled* when it becomes a ticket entry, a bounce record, or a
quarantine item with an error — never an unhandled exception. The facts its manifest
states (subject, sender, recipients, Message-ID, attachment count and names) are
compared with what the pipeline stored. Subjects compare after whitespace
normalisation (tickets store subjects with whitespace collapsed). Each message goes to
its own mailbox with an empty Message-ID index: the fixtures of one project reuse
Message-IDs, and the desk would (correctly) import such repeats once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.common import append_results, print_table

ROOT = Path(__file__).resolve().parent.parent


def _setup_django(workdir: Path) -> None:
    os.environ["SQLITE_PATH"] = str(workdir / "eval.sqlite3")
    os.environ["CONCIERGE_VAR_DIR"] = str(workdir / "var")
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ["TASK_BACKEND"] = "immediate"
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "concierge.settings"
    os.environ.setdefault("LOG_LEVEL", "ERROR")  # one log line per task would bury the table
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def normalise(text: object) -> str:
    return " ".join(str(text).split())


def _observed(message: Any) -> dict[str, Any]:
    """The facts as the pipeline stored them (entry metadata, attachments, the inbound row)."""
    from concierge.mail.parsing import parse_message
    from concierge.mail.services import raw_bytes

    entry = message.entry
    email_meta = (entry.metadata.get("email") if entry is not None else None) or {}
    if email_meta and message.status == "processed":
        stored = [a.filename for a in entry.attachments.order_by("id")]
        skipped = entry.metadata.get("skipped_attachments", [])
        names = stored if not skipped else None
        return {
            "subject": email_meta.get("subject", ""),
            "from": email_meta.get("from", ""),
            "from_name": email_meta.get("from_name", ""),
            "to": email_meta.get("to", []),
            "message_id": message.message_id,
            "attachment_count": len(stored) + len(skipped),
            "attachment_names": names,
        }
    # Bounces and quarantine items: the stored row, and the parser for the rest.
    parsed = parse_message(raw_bytes(message))
    return {
        "subject": message.subject,
        "from": message.sender,
        "from_name": parsed.from_name,
        "to": [a.address for a in parsed.to],
        "message_id": message.message_id,
        "attachment_count": len(parsed.attachments),
        "attachment_names": [a.filename for a in parsed.attachments],
    }


def _check(expected: dict[str, Any], seen: dict[str, Any]) -> dict[str, bool]:
    results: dict[str, bool] = {}
    if "subject" in expected:
        results["subject"] = normalise(expected["subject"]) == normalise(seen["subject"])
    if "from_address" in expected:
        results["from_address"] = expected["from_address"].lower() == seen["from"]
    if "from_addresses" in expected:
        wanted = [a.lower() for a in expected["from_addresses"]]
        results["from_address"] = wanted[:1] == [seen["from"]]
    if "from_name" in expected:
        results["from_name"] = normalise(expected["from_name"]) == normalise(seen["from_name"])
    if "to_address" in expected:
        results["to_address"] = seen["to"][:1] == [expected["to_address"].lower()]
    if "to_addresses" in expected:
        results["to_address"] = seen["to"] == [a.lower() for a in expected["to_addresses"]]
    if "message_id" in expected:
        results["message_id"] = expected["message_id"].strip("<>") == seen["message_id"]
    if "attachment_count" in expected:
        results["attachment_count"] = expected["attachment_count"] == seen["attachment_count"]
    if "attachment_filenames_by_index" in expected:
        names = seen["attachment_names"] or []
        results["attachment_names"] = all(
            int(index) < len(names) and names[int(index)] == name
            for index, name in expected["attachment_filenames_by_index"].items()
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--verbose", action="store_true", help="list every wrong fact")
    args = parser.parse_args()
    corpus = args.data / "email" / "mime"
    if not (corpus / "manifest.jsonl").exists():
        sys.exit(f"no MIME corpus at {corpus} (pass --data DIR)")
    items = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]

    with tempfile.TemporaryDirectory(prefix="concierge-eval-mime-") as tmp:
        _setup_django(Path(tmp))
        from concierge.mail.actions import process_inbound_message, receive_raw_message
        from concierge.mail.models import Mailbox, MessageRecord

        statuses: Counter[str] = Counter()
        facts: dict[str, list[bool]] = defaultdict(list)
        problems: list[str] = []
        for number, item in enumerate(items):
            raw = (corpus / item["file"]).read_bytes()
            # One mailbox and an empty Message-ID index per message: fixtures from
            # one project share Message-IDs, which the desk would rightly treat as
            # one message delivered twice.
            MessageRecord.objects.all().delete()
            mailbox = Mailbox.objects.create(
                name=f"Eval {number}", address=f"support-{number}@eval.test"
            )
            try:
                message = receive_raw_message(mailbox=mailbox, raw=raw, source="smtp")
                process_inbound_message(message_id=message.pk)
                message.refresh_from_db()
            except Exception:  # the one outcome the pipeline must never have
                statuses["unhandled exception"] += 1
                problems.append(f"{item['file']}: {traceback.format_exc(limit=3)}")
                continue
            statuses[message.status] += 1
            if message.status == "quarantined":
                problems.append(f"{item['file']}: quarantined: {message.error}")
            seen = _observed(message)
            for fact, ok in _check(item["expected"], seen).items():
                facts[fact].append(ok)
                if not ok and args.verbose:
                    problems.append(f"{item['file']}: wrong {fact}: {seen}")

    total = len(items)
    unhandled = statuses["unhandled exception"]
    handled = total - unhandled
    status_rows = [
        {"outcome": status, "messages": count, "share %": round(100 * count / total, 1)}
        for status, count in sorted(statuses.items())
    ]
    print_table(f"MIME corpus: {total} messages through receive + process", status_rows)
    fact_rows = [
        {
            "fact": fact,
            "checked": len(results),
            "correct": sum(results),
            "correct %": round(100 * sum(results) / len(results), 1),
        }
        for fact, results in sorted(facts.items())
    ]
    print_table("Manifest facts", fact_rows)
    for problem in problems:
        print("  " + problem.strip().replace("\n", "\n    "))
    all_facts = [ok for results in facts.values() for ok in results]
    summary = {
        "messages": total,
        "handled_rate": round(handled / total, 4),
        "unhandled_exceptions": unhandled,
        "processed": statuses["processed"],
        "quarantined": statuses["quarantined"],
        "bounce": statuses["bounce"],
        "facts_checked": len(all_facts),
        "facts_correct_rate": round(sum(all_facts) / len(all_facts), 4) if all_facts else None,
        **{
            f"{row['fact']}_correct_rate": round(row["correct"] / row["checked"], 4)
            for row in fact_rows
        },
    }
    rows = [
        *({"kind": "outcome", "name": r["outcome"], "n": r["messages"], "%": r["share %"]}
          for r in status_rows),
        *({"kind": "fact", "name": r["fact"], "n": r["checked"], "%": r["correct %"]}
          for r in fact_rows),
    ]  # fmt: skip
    append_results("eval mime", rows, summary)


if __name__ == "__main__":
    main()
