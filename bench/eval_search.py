"""Search quality: two help centers searched with held-out customer questions.

    ./concierge eval search [--data DIR] [--database sqlite|postgresql|all] [--tune]
                            [--quick [--queries N]] [--minilm]

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
grid), never on test_public; the ranker itself sees only the articles. The
lexical side differs by database (BM25 on SQLite, ts_rank on PostgreSQL), so
``--tune`` is run on each and ranking.WEIGHTS_PER_DATABASE holds what differs.

Everything runs through the production code: articles are written with
``search.actions.write_documents`` into a fresh database migrated like any
other, and searched with ``search.services.search`` as an anonymous visitor.
Rows: lexical, semantic and hybrid (the default) with the articles' encoder
(settings.SEARCH_ENCODERS["article"], "mpnet+minilm+e5"), then semantic/hybrid
with MiniLM alone (``--minilm``: what the bigger models add) and with the
cheap "static" encoder used for tickets (what it costs).

Relevance cut-off (ranking.MIN_RELEVANCE, applied to visitors' searches):
"hybrid + cut-off" rows search in-domain questions with ``cut_off=True``
("lost" = the share whose right answer was in the top 10 without the
cut-off and is gone with it); "out-of-scope rejected" rows search CLINC150's
``oos`` questions (train + validation splits for validation, test_public for
test_public) and count those that get no result at all. The thresholds were
chosen on validation (the largest that loses at most 5% of the right answers
on each help center).

``--tune`` indexes the articles once per part of the fused encoder (MPNet,
MiniLM, e5), collects each validation question's evidence once, and prints
the grid over the parts' shares, the semantic mix and the lexical weight.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.common import append_results, databases_to_run, print_table, run_child_pass

ROOT = Path(__file__).resolve().parent.parent
NAME = "eval search"
VALIDATION_PER_INTENT = 20
QUICK_QUERIES = 300
CUT_OFF_LOSS_BUDGET = 0.05  # share of right answers the cut-off may lose on validation


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


def out_of_scope(data: Path) -> dict[str, list[str]]:
    """CLINC150's out-of-scope questions: train + val for validation, test_public for test."""
    folder = data / "intent" / "clinc150"

    def oos(*names: str) -> list[str]:
        return [
            row["text"] for name in names for row in _rows(folder / name) if row["label"] == "oos"
        ]

    return {"validation": oos("train.csv", "val.csv"), "test_public": oos("test_public.csv")}


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


def _ranks(
    queries: list[tuple[str, str]], intents: dict[int, str], mode: str, *, cut_off: bool = False
) -> list[int | None]:
    from django.contrib.auth.models import AnonymousUser

    from concierge.search.services import search

    visitor = AnonymousUser()
    ranks: list[int | None] = []
    for text, intent in queries:
        hits = search(
            user=visitor, query=text, kinds=("article",), mode=mode, limit=10, cut_off=cut_off
        )
        found = [intents[hit.object_id] for hit in hits]
        ranks.append(found.index(intent) + 1 if intent in found else None)
    return ranks


def _evaluate(
    queries: list[tuple[str, str]], intents: dict[int, str], mode: str
) -> dict[str, float]:
    return _metrics(_ranks(queries, intents, mode))


def _rejected(questions: list[str]) -> float:
    """Share of (off-topic) questions a visitor's search answers with no result."""
    from django.contrib.auth.models import AnonymousUser

    from concierge.search.services import search

    visitor = AnonymousUser()
    empty = sum(
        1
        for text in questions
        if not search(user=visitor, query=text, kinds=("article",), limit=10, cut_off=True)
    )
    return round(empty / max(len(questions), 1), 4)


def _evidence(
    queries: list[tuple[str, str]], intents: dict[int, str], encoder_name: str
) -> list[tuple[dict[int, float], Any]]:
    """Per question: lexical scores and semantic DocumentScores, keyed by article object id."""
    import numpy as np
    from django.contrib.auth.models import AnonymousUser

    from concierge.core import policy
    from concierge.search import lexical, vectors
    from concierge.search.encoders import get_encoder
    from concierge.search.models import SearchDocument

    visitor = AnonymousUser()
    allowed = SearchDocument.objects.filter(policy.search_document_filter(visitor), kind="article")
    pk_to_object = dict(allowed.values_list("pk", "object_id"))
    encoder = get_encoder(encoder_name)
    matrix = vectors.matrix(encoder_name)
    collected = []
    for text, _ in queries:
        lexical_hits = lexical.candidates(
            parsed=lexical.parse(text),
            kinds=["article"],
            allowed=allowed,
            include_staff_text=False,
            limit=100,
        )
        semantic = matrix.scores(
            encoder.encode_queries([text])[0], kinds=["article"], allowed_ids=None
        )
        semantic.document_ids = np.array([pk_to_object[int(pk)] for pk in semantic.document_ids])
        order = np.argsort(semantic.document_ids)
        semantic.document_ids = semantic.document_ids[order]
        semantic.whole = semantic.whole[order]
        semantic.title = semantic.title[order]
        semantic.best_passage = semantic.best_passage[order]
        collected.append(({pk_to_object[pk]: score for pk, score in lexical_hits}, semantic))
    return collected


def _share_grid(parts: int) -> list[tuple[float, ...]]:
    """Shares of a fused encoder's parts to try (each a multiple of 0.1, adding up to 1)."""
    if parts == 1:
        return [(1.0,)]
    steps = range(1, 10)
    grid = [
        (*head, round(1 - sum(head), 2))
        for head in itertools.product([step / 10 for step in steps], repeat=parts - 1)
        if sum(head) < 1 - 1e-9
    ]
    return grid


def _tune(
    queries: list[tuple[str, str]], articles: dict[str, tuple[str, str]], article_encoder: str
) -> list[dict[str, Any]]:
    """Grid over the fused encoder's shares and the fusion weights, on validation.

    A fused vector's cosine is the share-weighted sum of its parts' cosines
    (encoders.FusedEncoder), so the evidence of each part, collected once,
    gives every share's scores exactly.
    """
    from concierge.search import ranking
    from concierge.search.encoders import FUSED_PARTS
    from concierge.search.vectors import DocumentScores

    part_names = [name for name, _ in FUSED_PARTS.get(article_encoder, ((article_encoder, 1.0),))]
    evidence = []
    intents: dict[int, str] = {}
    for part in part_names:
        intents = _index(articles, part)
        evidence.append(_evidence(queries, intents, part))
    results = []
    for shares in _share_grid(len(part_names)):
        mixed = []
        for per_part in zip(*evidence, strict=True):
            lexical_hits = per_part[0][0]
            mixed.append(
                (
                    lexical_hits,
                    DocumentScores(
                        document_ids=per_part[0][1].document_ids,
                        whole=sum(w * e[1].whole for w, e in zip(shares, per_part, strict=True)),
                        title=sum(w * e[1].title for w, e in zip(shares, per_part, strict=True)),
                        best_passage=sum(
                            w * e[1].best_passage for w, e in zip(shares, per_part, strict=True)
                        ),
                    ),
                )
            )
        for whole, title in ((0.43, 0.14), (0.5, 0.1), (0.3, 0.1), (0.4, 0.1), (0.35, 0.15)):
            passage = round(1 - whole - title, 2)
            for lexical_weight in (0.0, 0.005, 0.01, 0.02, 0.03, 0.05):
                weights = ranking.Weights(whole, title, passage, lexical_weight)
                ranks: list[int | None] = []
                for (lexical_hits, semantic), (_, intent) in zip(mixed, queries, strict=True):
                    ranked = ranking.fuse(
                        lexical=sorted(lexical_hits.items(), key=lambda item: -item[1]),
                        semantic=semantic,
                        mode="hybrid",
                        weights=weights,
                        limit=10,
                    )
                    found = [intents[object_id] for object_id, _ in ranked]
                    ranks.append(found.index(intent) + 1 if intent in found else None)
                results.append(
                    {
                        "shares": "/".join(
                            f"{name}:{share}"
                            for name, share in zip(part_names, shares, strict=True)
                        ),
                        "whole": whole,
                        "title": title,
                        "passage": passage,
                        "lexical": lexical_weight,
                    }
                    | _metrics(ranks)
                )
    return results


def child_main(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from concierge.search import ranking
    from concierge.search.encoders import OTHER_LANGUAGE_SHARES

    call_command("migrate", verbosity=0)
    article_encoder = settings.SEARCH_ENCODERS.get("article", "default")
    # The articles' encoder (all rows), the tickets' static encoder (what it
    # costs) and, with --minilm, MiniLM alone (what e5 adds).
    encoders = [article_encoder, *(["default"] if args.minilm else []), "static"]
    encoders = list(dict.fromkeys(encoders))
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {
        "database": args.child,
        "article_encoder": article_encoder,
        "weights": ranking.weights_for(article_encoder, connection.vendor).__dict__,
        "min_relevance": ranking.min_relevance(article_encoder),
    }
    tuning: dict[str, list[dict[str, Any]]] = {}
    off_topic = out_of_scope(args.data)

    def add_row(center: str, split: str, label: str, count: int, figures: dict[str, Any]) -> None:
        rows.append(
            {"help center": center, "split": split, "ranking": label, "queries": count} | figures
        )

    for center in (bitext(args.data), banking77(args.data)):
        name = center["name"]
        splits = {"validation": center["validation"], "test_public": center["test"]}
        if args.quick:
            splits = {
                split: _every_kth_pairs(queries, args.queries) for split, queries in splits.items()
            }
        if args.tune:
            tuning[name] = _tune(splits["validation"], center["articles"], article_encoder)
        for encoder in encoders:
            started = time.perf_counter()
            intents = _index(center["articles"], encoder)
            summary[f"{name}.index_seconds.{encoder}"] = round(time.perf_counter() - started, 1)
            is_default = encoder == article_encoder
            label = "MiniLM only" if encoder == "default" else f"{encoder} encoder"
            suffix = "" if is_default else f" ({label})"
            key_suffix = "" if is_default else f".{encoder}"
            for split, queries in splits.items():
                modes = ("lexical", "semantic", "hybrid") if is_default else ("semantic", "hybrid")
                for mode in modes:
                    started = time.perf_counter()
                    ranks = _ranks(queries, intents, mode)
                    elapsed = time.perf_counter() - started
                    figures = _metrics(ranks) | {
                        "ms/query": round(1000 * elapsed / max(len(queries), 1), 1)
                    }
                    add_row(name, split, mode + suffix, len(queries), figures)
                    summary[f"{name}.{split}.{mode}{key_suffix}"] = figures["mrr@10"]
                    if not (is_default and mode == "hybrid" and ranking.min_relevance(encoder)):
                        continue
                    # The relevance cut-off, as a visitor's search applies it.
                    started = time.perf_counter()
                    cut = _ranks(queries, intents, "hybrid", cut_off=True)
                    elapsed = time.perf_counter() - started
                    answered = sum(1 for rank in ranks if rank is not None)
                    lost = sum(
                        1
                        for before, after in zip(ranks, cut, strict=True)
                        if before is not None and after is None
                    )
                    figures = _metrics(cut) | {
                        "ms/query": round(1000 * elapsed / max(len(queries), 1), 1),
                        "lost": round(lost / max(answered, 1), 4),
                    }
                    add_row(name, split, "hybrid + cut-off", len(queries), figures)
                    summary[f"{name}.{split}.cut_off.lost"] = figures["lost"]
                    questions = off_topic[split]
                    if args.quick:
                        questions = questions[:: max(1, len(questions) // args.queries)]
                    rejected = _rejected(questions)
                    add_row(
                        name,
                        split,
                        "out-of-scope rejected (CLINC150 oos)",
                        len(questions),
                        {"rejected": rejected},
                    )
                    summary[f"{name}.{split}.cut_off.oos_rejected"] = rejected
            if name == "bitext" and is_default and encoder in OTHER_LANGUAGE_SHARES:
                for label, figures in _other_languages(intents, encoder).items():
                    count = int(figures.pop("queries"))
                    add_row(name, "fr/es/de (hand-written)", label, count, figures)
                    summary[f"{name}.other_languages.{label}"] = figures["mrr@10"]
    print_table("Search quality (MRR@10, recall@1, recall@5)", rows)
    if tuning:
        _print_tuning(tuning)
    for center_name in ("bitext", "banking77"):
        for split in ("validation", "test_public"):
            hybrid = summary.get(f"{center_name}.{split}.hybrid", 0)
            best_single = max(
                summary.get(f"{center_name}.{split}.lexical", 0),
                summary.get(f"{center_name}.{split}.semantic", 0),
            )
            summary[f"{center_name}.{split}.hybrid_not_below_best_single"] = hybrid >= best_single
    if args.quick:
        print(json.dumps(summary), flush=True)
    else:
        append_results(f"{NAME} ({args.child})", rows, summary)
    return 0


def _other_languages(intents: dict[int, str], encoder: str) -> dict[str, dict[str, Any]]:
    """The hand-written French, Spanish and German questions on the English articles.

    Ranked as production ranks them (e5 alone for a question detected in
    another language) and, for comparison in the same run, with the English
    shares every question had before (OTHER_LANGUAGE_SHARES emptied).
    """
    from bench.questions_other_languages import BITEXT_QUESTIONS
    from concierge.search import encoders, services

    queries = [(text, intent) for intent, texts in BITEXT_QUESTIONS.items() for text in texts]
    results: dict[str, dict[str, Any]] = {}
    for mode in ("semantic", "hybrid"):
        results[mode] = _evaluate(queries, intents, mode) | {"queries": len(queries)}
    kept = dict(encoders.OTHER_LANGUAGE_SHARES)
    encoders.OTHER_LANGUAGE_SHARES.clear()
    services._query_vector.cache_clear()
    try:
        results["hybrid, English shares"] = _evaluate(queries, intents, "hybrid") | {
            "queries": len(queries)
        }
    finally:
        encoders.OTHER_LANGUAGE_SHARES.update(kept)
        services._query_vector.cache_clear()
        # Cleared, the shares made it answer "" for these questions: not for later searches.
        services._question_language.cache_clear()
    return results


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
        weights = {key: setting[key] for key in ("shares", "whole", "title", "passage", "lexical")}
        print(
            f"  {weights}  {dict(zip(names, per_center, strict=True))}"
            f"  min={worst} mean={mean:.4f}",
            file=sys.stderr,
        )


def _scratch_name(database_url: str) -> str:
    given = urlsplit(database_url).path.lstrip("/")
    return f"{given}_eval_search" if given else "concierge_eval_search"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql", "all"])
    parser.add_argument("--tune", action="store_true", help="print the weight grid on validation")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_QUERIES} queries per split, no RESULTS.md"
    )
    parser.add_argument(
        "--queries", type=int, default=QUICK_QUERIES, help="questions per split with --quick"
    )
    parser.add_argument(
        "--minilm", action="store_true", help="add rows for MiniLM alone (what e5 adds)"
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
            # Named after the given database, so that two people evaluating on
            # one PostgreSQL server never share a scratch database.
            scratch_database=_scratch_name(os.environ.get("DATABASE_URL", "")),
            extra_env={"TASK_BACKEND": "immediate"},
        )
        if summary is not None:
            results[database] = summary
    print(json.dumps({"evaluation": NAME, "passes": results}, default=str), flush=True)
    return 0 if len(results) == len(databases) else 1


if __name__ == "__main__":
    sys.exit(main())
