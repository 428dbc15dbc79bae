"""Search quality: two help centers searched with held-out customer questions.

    ./concierge eval search [--data DIR] [--database sqlite|postgresql|all] [--tune] [--quick]

Articles are made exactly as issue 5 says, so figures compare across runs:

* Bitext (``intent/bitext/train.csv``): one article per intent, titled from the
  intent name (underscores to spaces), its body the first response of that
  intent in file order.
* Banking77 (``intent/banking77/train.csv``): one article per intent, titled
  from the intent name, its body the first three utterances of that intent in
  file order (a "people also ask" list).

Queries are the ``test_public`` utterances; the right article is the one of
their intent. Neither data set ships a validation split, so a validation set
is drawn from ``train.csv``: every training utterance that is not part of an
article (Banking77: the fourth on; Bitext: all instructions, the articles use
responses), at most VALIDATION_PER_INTENT per intent, every k-th in file
order. The ranker's few weights are tuned on those (``--tune`` prints the
grid), never on test_public; the ranker itself sees only the articles.

Everything runs through the production code: articles are written with
``search.actions.write_documents`` into a fresh database migrated like any
other, and searched with ``search.services.search`` as an anonymous visitor.
Rows: lexical, semantic and hybrid (the default), plus semantic/hybrid with
the cheap "static" encoder used for tickets, to show what it costs.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import append_results, databases_to_run, print_table, run_child_pass

ROOT = Path(__file__).resolve().parent.parent
NAME = "eval search"
VALIDATION_PER_INTENT = 20
QUICK_QUERIES = 300


# --- help centers -------------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _every_kth(items: list[str], count: int) -> list[str]:
    if len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(index * step)] for index in range(count)]


def bitext(data: Path) -> dict[str, Any]:
    folder = data / "intent" / "bitext"
    train = _rows(folder / "train.csv")
    articles: dict[str, tuple[str, str]] = {}
    instructions: dict[str, list[str]] = defaultdict(list)
    for row in train:
        intent = row["intent"]
        if intent not in articles:
            articles[intent] = (intent.replace("_", " "), row["response"])
        instructions[intent].append(row["instruction"])
    validation = [
        (text, intent)
        for intent, texts in instructions.items()
        for text in _every_kth(texts, VALIDATION_PER_INTENT)
    ]
    test = [(row["instruction"], row["intent"]) for row in _rows(folder / "test_public.csv")]
    return {"name": "bitext", "articles": articles, "validation": validation, "test": test}


def banking77(data: Path) -> dict[str, Any]:
    folder = data / "intent" / "banking77"
    train = _rows(folder / "train.csv")
    utterances: dict[str, list[str]] = defaultdict(list)
    for row in train:
        utterances[row["label"]].append(row["text"])
    articles = {
        intent: (intent.replace("_", " "), "\n".join(texts[:3]))
        for intent, texts in utterances.items()
    }
    validation = [
        (text, intent)
        for intent, texts in utterances.items()
        for text in _every_kth(texts[3:], VALIDATION_PER_INTENT)
    ]
    test = [(row["text"], row["label"]) for row in _rows(folder / "test_public.csv")]
    return {"name": "banking77", "articles": articles, "validation": validation, "test": test}


# --- child: index and search ----------------------------------------------------------


def _index(articles: dict[str, tuple[str, str]], encoder: str) -> dict[int, str]:
    """Replaces the index's articles with these; returns object id -> intent.

    The help center's articles become the "article" source (in place of the
    knowledge app's, whose tables are empty here) and are indexed through
    ``search.actions.index_now``, as an article save would be.
    """
    from django.conf import settings

    from concierge.search import registry
    from concierge.search.actions import index_now, write_documents
    from concierge.search.documents import IndexDocument
    from concierge.search.models import SearchDocument

    settings.SEARCH_ENCODERS = {"article": encoder}
    existing = list(
        SearchDocument.objects.filter(kind="article").values_list("object_id", flat=True)
    )
    write_documents(kind="article", documents=[], removed_ids=existing)
    intents: dict[int, str] = {}
    documents: dict[int, IndexDocument] = {}
    for object_id, (intent, (title, body)) in enumerate(sorted(articles.items()), start=1):
        intents[object_id] = intent
        documents[object_id] = IndexDocument(
            kind="article", object_id=object_id, title=title, body=body, audience="public"
        )
    registry.register_source(
        "article",
        lambda ids: {object_id: documents.get(object_id) for object_id in ids},
        lambda: sorted(documents),
    )
    ids = sorted(documents)
    for start in range(0, len(ids), 100):
        index_now(kind="article", object_ids=ids[start : start + 100])
    return intents


def _metrics(ranks: list[int | None]) -> dict[str, float]:
    count = len(ranks) or 1
    return {
        "mrr@10": round(sum(1 / r for r in ranks if r is not None and r <= 10) / count, 4),
        "recall@1": round(sum(1 for r in ranks if r == 1) / count, 4),
        "recall@5": round(sum(1 for r in ranks if r is not None and r <= 5) / count, 4),
    }


def _evaluate(
    queries: list[tuple[str, str]], intents: dict[int, str], mode: str
) -> dict[str, float]:
    from django.contrib.auth.models import AnonymousUser

    from concierge.search.services import search

    visitor = AnonymousUser()
    ranks: list[int | None] = []
    for text, intent in queries:
        hits = search(user=visitor, query=text, kinds=("article",), mode=mode, limit=10)
        found = [intents[hit.object_id] for hit in hits]
        ranks.append(found.index(intent) + 1 if intent in found else None)
    return _metrics(ranks)


def _tune(queries: list[tuple[str, str]], intents: dict[int, str]) -> list[dict[str, Any]]:
    """Grid over the fusion weights on validation queries (evidence computed once per query)."""
    from django.contrib.auth.models import AnonymousUser

    from concierge.core import policy
    from concierge.search import lexical, ranking, vectors
    from concierge.search.encoders import get_encoder
    from concierge.search.models import SearchDocument

    visitor = AnonymousUser()
    allowed = SearchDocument.objects.filter(policy.search_document_filter(visitor), kind="article")
    pk_to_intent = {
        pk: intents[object_id] for pk, object_id in allowed.values_list("pk", "object_id")
    }
    encoder = get_encoder("default")
    evidence = []
    for text, intent in queries:
        parsed = lexical.parse(text)
        lexical_hits = lexical.candidates(
            parsed=parsed, kinds=["article"], allowed=allowed, include_staff_text=False, limit=100
        )
        semantic = vectors.matrix("default").scores(
            encoder.encode([text])[0], kinds=["article"], allowed_ids=None
        )
        evidence.append((lexical_hits, semantic, intent))
    results = []
    for whole in (0.0, 0.2, 0.4, 0.6):
        for title in (0.0, 0.1, 0.2, 0.3):
            passage = round(1 - whole - title, 2)
            if passage < 0:
                continue
            for lexical_weight in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3):
                weights = ranking.Weights(whole, title, passage, lexical_weight)
                ranks: list[int | None] = []
                for lexical_hits, semantic, intent in evidence:
                    ranked = ranking.fuse(
                        lexical=lexical_hits,
                        semantic=semantic,
                        mode="hybrid",
                        weights=weights,
                        limit=10,
                    )
                    found = [pk_to_intent[pk] for pk, _ in ranked]
                    ranks.append(found.index(intent) + 1 if intent in found else None)
                results.append(
                    {"whole": whole, "title": title, "passage": passage, "lexical": lexical_weight}
                    | _metrics(ranks)
                )
    return results


def child_main(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    from concierge.search.ranking import DEFAULT_WEIGHTS

    call_command("migrate", verbosity=0)
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"database": args.child, "weights": DEFAULT_WEIGHTS.__dict__}
    tuning: dict[str, list[dict[str, Any]]] = {}
    for center in (bitext(args.data), banking77(args.data)):
        splits = {"validation": center["validation"], "test_public": center["test"]}
        if args.quick:
            splits = {
                name: _every_kth_pairs(queries, QUICK_QUERIES) for name, queries in splits.items()
            }
        for encoder in ("default", "static"):
            started = time.perf_counter()
            intents = _index(center["articles"], encoder)
            indexing_seconds = time.perf_counter() - started
            if args.tune and encoder == "default":
                tuning[center["name"]] = _tune(splits["validation"], intents)
            for split, queries in splits.items():
                modes = (
                    ("lexical", "semantic", "hybrid")
                    if encoder == "default"
                    else ("semantic", "hybrid")
                )
                for mode in modes:
                    started = time.perf_counter()
                    figures = _evaluate(queries, intents, mode)
                    elapsed = time.perf_counter() - started
                    label = mode if encoder == "default" else f"{mode} (static encoder)"
                    rows.append(
                        {
                            "help center": center["name"],
                            "split": split,
                            "ranking": label,
                            "queries": len(queries),
                            **figures,
                            "ms/query": round(1000 * elapsed / max(len(queries), 1), 1),
                        }
                    )
                    key = f"{center['name']}.{split}.{mode}" + (
                        "" if encoder == "default" else ".static"
                    )
                    summary[key] = figures["mrr@10"]
            summary[f"{center['name']}.index_seconds.{encoder}"] = round(indexing_seconds, 1)
    print_table("Search quality (MRR@10, recall@1, recall@5)", rows)
    if tuning:
        _print_tuning(tuning)
    for center in ("bitext", "banking77"):
        for split in ("validation", "test_public"):
            hybrid = summary.get(f"{center}.{split}.hybrid", 0)
            best_single = max(
                summary.get(f"{center}.{split}.lexical", 0),
                summary.get(f"{center}.{split}.semantic", 0),
            )
            summary[f"{center}.{split}.hybrid_not_below_best_single"] = hybrid >= best_single
    if args.quick:
        print(json.dumps(summary), flush=True)
    else:
        append_results(f"{NAME} ({args.child})", rows, summary)
    return 0


def _every_kth_pairs(queries: list[tuple[str, str]], count: int) -> list[tuple[str, str]]:
    if len(queries) <= count:
        return queries
    step = len(queries) / count
    return [queries[int(index * step)] for index in range(count)]


def _print_tuning(tuning: dict[str, list[dict[str, Any]]]) -> None:
    combined = []
    names = list(tuning)
    for index, setting in enumerate(tuning[names[0]]):
        per_center = [tuning[name][index]["mrr@10"] for name in names]
        combined.append((min(per_center), sum(per_center) / len(per_center), setting, per_center))
    combined.sort(key=lambda item: (-item[0], -item[1]))
    print("\nTuning on validation (best first by the worse help center's MRR@10):", file=sys.stderr)
    for worst, mean, setting, per_center in combined[:15]:
        weights = {key: setting[key] for key in ("whole", "title", "passage", "lexical")}
        print(
            f"  {weights}  {dict(zip(names, per_center, strict=True))}"
            f"  min={worst} mean={mean:.4f}",
            file=sys.stderr,
        )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql", "all"])
    parser.add_argument("--tune", action="store_true", help="print the weight grid on validation")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_QUERIES} queries per split, no RESULTS.md"
    )
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if not (args.data / "intent" / "bitext" / "train.csv").exists():
        print(f"no intent data under {args.data} (pass --data DIR)", file=sys.stderr)
        return 2
    if args.child:
        return child_main(args)
    databases = databases_to_run(args.database)
    if databases is None:
        return 2
    results = {}
    for database in databases:
        summary = run_child_pass(
            module="bench.eval_search",
            database=database,
            argv=argv,
            scratch_database="concierge_eval_search",
            extra_env={"TASK_BACKEND": "immediate"},
        )
        if summary is not None:
            results[database] = summary
    print(json.dumps({"evaluation": NAME, "passes": results}, default=str), flush=True)
    return 0 if len(results) == len(databases) else 1


if __name__ == "__main__":
    sys.exit(main())
