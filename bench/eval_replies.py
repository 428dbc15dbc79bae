"""Reply extraction: the new text of an email without quoted history.

    ./concierge eval replies [--data DIR]

Scores Concierge's extractor on ../shared/data/email/reply_extraction/cases.jsonl
(exact match after whitespace normalisation, per source family and overall), side by
side with the PyPI packages `talon` and `email-reply-parser` on the same cases when
they are installed (`.venv/bin/pip install -r requirements/eval.txt`).

For `eml` cases every extractor gets the same input: the text of the message as our
MIME parser reads it (the text/plain part, else text derived from the HTML).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bench.common import append_results, print_table

ROOT = Path(__file__).resolve().parent.parent
Extractor = Callable[[str], str]


def normalise(text: str) -> str:
    return " ".join(text.split())


def _concierge() -> Extractor:
    from concierge.mail.replies import extract_reply

    return lambda text: extract_reply(text).reply


def _talon() -> tuple[Extractor | None, str]:
    try:
        from talon import quotations
    except Exception as error:  # not installed, or failing to import on this Python
        return None, f"not available ({type(error).__name__}: {error})"[:120]
    return quotations.extract_from_plain, "installed"


def _email_reply_parser() -> tuple[Extractor | None, str]:
    try:
        from email_reply_parser import EmailReplyParser
    except Exception as error:
        return None, f"not available ({type(error).__name__}: {error})"[:120]
    return EmailReplyParser.parse_reply, "installed"


def family(case: dict[str, str]) -> str:
    return case["id"].split("/", 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concierge.settings")
    cases_path = args.data / "email" / "reply_extraction" / "cases.jsonl"
    if not cases_path.exists():
        sys.exit(f"no cases at {cases_path} (pass --data DIR)")
    cases = [json.loads(line) for line in cases_path.read_text().splitlines() if line.strip()]

    from concierge.mail.parsing import parse_message

    talon, talon_state = _talon()
    erp, erp_state = _email_reply_parser()
    extractors: dict[str, Extractor | None] = {
        "concierge": _concierge(),
        "talon": talon,
        "email-reply-parser": erp,
    }
    for name, state in (("talon", talon_state), ("email-reply-parser", erp_state)):
        if extractors[name] is None:
            print(
                f"{name}: {state}; install with `.venv/bin/pip install -r requirements/eval.txt`",
                file=sys.stderr,
            )

    hits: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    failures: list[str] = []
    for case in cases:
        raw = case["raw"]
        text = parse_message(raw.encode("utf-8")).text if case["raw_format"] == "eml" else raw
        expected = normalise(case["expected_reply"])
        for group in (family(case), "overall"):
            totals[group] += 1
        for name, extract in extractors.items():
            if extract is None:
                continue
            try:
                got = normalise(extract(text))
            except Exception:  # a competitor crashing on a case scores a miss
                got = ""
            if got == expected:
                for group in (family(case), "overall"):
                    hits[name][group] += 1
            elif name == "concierge":
                failures.append(case["id"])

    groups = sorted(g for g in totals if g != "overall") + ["overall"]
    rows = []
    for group in groups:
        row: dict[str, object] = {"family": group, "cases": totals[group]}
        for name, extract in extractors.items():
            row[f"{name} %"] = (
                round(100 * hits[name][group] / totals[group], 1) if extract else "n/a"
            )
        rows.append(row)
    print_table("Reply extraction: exact match after whitespace normalisation", rows)
    if failures:
        print("\nconcierge misses: " + ", ".join(failures))
    summary: dict[str, object] = {
        "cases": totals["overall"],
        "concierge_exact": round(hits["concierge"]["overall"] / totals["overall"], 4),
        "talon_exact": (
            round(hits["talon"]["overall"] / totals["overall"], 4) if talon else talon_state
        ),
        "email_reply_parser_exact": (
            round(hits["email-reply-parser"]["overall"] / totals["overall"], 4)
            if erp
            else erp_state
        ),
    }
    append_results("eval replies", rows, summary)


if __name__ == "__main__":
    main()
