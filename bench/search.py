"""Search speed: query latency and indexing throughput at help-desk scale.

    ./concierge bench search [--database all|sqlite|postgresql] [--quick] [--data DIR]
                             [--articles N] [--tickets N]

Per database (a scratch SQLite file / a scratch PostgreSQL database):

1. indexes ARTICLES help-center articles (default 10,000) with the MiniLM
   encoder (whole text, title and up to 8 passages each), then times
   searches of them by an anonymous visitor (hybrid, lexical, semantic);
2. indexes TICKETS ticket documents (default 1,000,000) with the static
   encoder, in batches through ``search.actions.write_documents`` (the path
   every save takes), then times staff searches of them: short keyword
   queries and whole questions, per ranking mode.

Texts are realistic rather than random words: sentences of customer messages
and agent answers from ``intent/*/train.csv`` in the shared data (Bitext,
Banking77, CLINC150), combined at random into subjects and bodies; queries are
drawn from the ``test_public`` utterances, which no indexed text contains
verbatim. Indexing throughput is split into the encoder's share (semantic)
and the rest (rows, full-text index, vocabulary: lexical). MiniLM article
vectors are encoded once per run and reused by the second database pass
(its semantic throughput is the first pass's).

Latency is measured in-process (the service call, no HTTP), warm: the first
search loads the vector matrix from the database, and that load time is
reported on its own. Run it niced on a shared machine; --quick checks the
whole path at 1,000 articles and 20,000 tickets without touching RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    append_results,
    databases_to_run,
    median,
    percentile,
    print_table,
    run_child_pass,
)

ROOT = Path(__file__).resolve().parent.parent
NAME = "bench search"
QUERIES = 200
TICKET_BATCH = 5_000
ARTICLE_BATCH = 200


# --- texts --------------------------------------------------------------------------


def load_texts(data: Path) -> tuple[list[str], list[str], list[str]]:
    """(customer sentences, agent sentences, held-out queries) from the shared intent data."""
    customer: list[str] = []
    agent: list[str] = []
    queries: list[str] = []
    folder = data / "intent"
    for name, text_column in (
        ("bitext", "instruction"),
        ("banking77", "text"),
        ("clinc150", "text"),
    ):
        train = folder / name / "train.csv"
        if not train.exists():
            continue
        with train.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                customer.append(row[text_column])
                if name == "bitext":
                    agent.extend(
                        line.strip() for line in row["response"].split("\n") if len(line) > 30
                    )
        test = folder / name / "test_public.csv"
        if test.exists():
            with test.open(newline="", encoding="utf-8") as handle:
                queries.extend(row[text_column] for row in csv.DictReader(handle))
    if not customer:
        raise SystemExit(f"no intent data under {folder} (pass --data DIR)")
    return customer, agent or customer, queries


def keyword_query(rng: random.Random, question: str) -> str:
    from concierge.search.text import query_terms

    terms = [term for term in query_terms(question) if len(term) > 3] or query_terms(question)
    return " ".join(rng.sample(terms, min(2, len(terms))))


# --- child pass -----------------------------------------------------------------------


def _timed_encoder(name: str, clock: dict[str, float]) -> None:
    """Wraps the named encoder so that the bench knows the encoder's share of indexing."""
    from concierge.search.encoders import get_encoder

    encoder = get_encoder(name)
    original = encoder.encode

    def encode(texts: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(texts)
        finally:
            clock[name] = clock.get(name, 0.0) + time.perf_counter() - started

    encoder.encode = encode  # type: ignore[method-assign]


def _latencies(run: Any, queries: list[str]) -> tuple[float, float]:
    timings = []
    for query in queries:
        started = time.perf_counter()
        run(query)
        timings.append(1000 * (time.perf_counter() - started))
    return median(timings), percentile(timings, 95)


def index_articles(
    count: int, texts: tuple[list[str], list[str], list[str]], clock: dict[str, float]
) -> float:
    import numpy as np

    from concierge.search import actions
    from concierge.search.documents import IndexDocument
    from concierge.search.encoders import get_encoder

    customer, agent, _ = texts
    rng = random.Random(5)
    cache_path = Path(os.environ.get("BENCH_SEARCH_CACHE", "")) / f"articles-{count}.npz"
    cached = np.load(cache_path, allow_pickle=False) if cache_path.is_file() else None
    if cached is not None:
        # Vectors from the first pass: this pass measures the database side only.
        encoder = get_encoder("default")
        stored = cached["vectors"]
        position = [0]

        def replay(texts_: Any) -> Any:
            block = stored[position[0] : position[0] + len(texts_)]
            position[0] += len(texts_)
            return block.astype(np.float32)

        encoder.encode = replay  # type: ignore[method-assign]
    recorded: list[Any] = []
    if cached is None:
        encoder = get_encoder("default")
        original = encoder.encode

        def record(texts_: Any) -> Any:
            vectors = original(texts_)
            recorded.append(vectors.astype(np.float16))
            return vectors

        encoder.encode = record  # type: ignore[method-assign]
        _timed_encoder("default", clock)
    started = time.perf_counter()
    for start in range(0, count, ARTICLE_BATCH):
        documents = []
        for object_id in range(start + 1, min(count, start + ARTICLE_BATCH) + 1):
            question = rng.choice(customer)
            body = " ".join(rng.choice(agent) for _ in range(rng.randint(3, 6)))
            documents.append(
                IndexDocument(
                    kind="article",
                    object_id=object_id,
                    title=question.rstrip("?.!")[:120],
                    body=f"{question}\n{body}",
                    audience="public",
                )
            )
        actions.write_documents(kind="article", documents=documents)
    elapsed = time.perf_counter() - started
    # Searches encode their queries with the real encoder again.
    get_encoder("default").__dict__.pop("encode", None)
    if recorded and os.environ.get("BENCH_SEARCH_CACHE"):
        np.savez(cache_path, vectors=np.concatenate(recorded))
    if cached is not None:
        clock["default_replayed"] = 1.0
    return elapsed


def index_tickets(
    count: int, texts: tuple[list[str], list[str], list[str]], clock: dict[str, float]
) -> float:
    from concierge.search import actions
    from concierge.search.documents import IndexDocument

    customer, agent, _ = texts
    rng = random.Random(7)
    _timed_encoder("static", clock)
    started = time.perf_counter()
    for start in range(0, count, TICKET_BATCH):
        documents = []
        for object_id in range(start + 1, min(count, start + TICKET_BATCH) + 1):
            message = rng.choice(customer)
            replies = [rng.choice(agent) for _ in range(rng.randint(0, 2))]
            documents.append(
                IndexDocument(
                    kind="ticket",
                    object_id=object_id,
                    title=message[:80],
                    body="\n".join([message, rng.choice(customer), *replies]),
                    staff_body=rng.choice(agent) if rng.random() < 0.2 else "",
                    audience="customer",
                    customer_id=rng.randrange(1, 50_000),
                    extra={"status": "open"},
                )
            )
        actions.write_documents(kind="ticket", documents=documents)
        if (start // TICKET_BATCH) % 20 == 19:
            done = start + TICKET_BATCH
            rate = done / (time.perf_counter() - started)
            print(f"  tickets: {done:,} indexed ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    return time.perf_counter() - started


def semantic_scan(size: int, dim: int, queries: int = 50) -> dict[str, float]:
    """Times the semantic step alone over ``size`` in-memory ticket vectors.

    The production matrix class and fusion code, with a matrix filled in
    memory instead of loaded from a database: what one staff search costs on
    top of its lexical part, at a size this run could not index.
    """
    import numpy as np

    from concierge.search import ranking, vectors

    rng = np.random.default_rng(3)
    matrix = vectors.VectorMatrix("bench-scan")
    matrix.revision, matrix.deletions = vectors.current_revision()
    block = rng.standard_normal((size, dim), dtype=np.float32)
    block /= np.linalg.norm(block, axis=1, keepdims=True)
    matrix.vectors = block
    matrix.document_ids = np.arange(1, size + 1, dtype=np.int64)
    matrix.kinds = np.zeros(size, dtype=np.int16)
    matrix.kind_codes = {"ticket": 0}
    matrix.roles = np.zeros(size, dtype=np.int8)
    matrix.alive = np.ones(size, dtype=bool)
    timings = []
    for _ in range(queries):
        query = rng.standard_normal(dim, dtype=np.float32)
        query /= np.linalg.norm(query)
        lexical_hits = [(int(i), 1.0) for i in rng.integers(1, size, 100)]
        started = time.perf_counter()
        scores = matrix.scores(query, kinds=["ticket"], allowed_ids=None)
        ranking.fuse(lexical=lexical_hits, semantic=scores, mode="hybrid", limit=30)
        timings.append(1000 * (time.perf_counter() - started))
    return {
        "p50 ms": round(median(timings), 1),
        "p95 ms": round(percentile(timings, 95), 1),
        "matrix MB": round(block.nbytes / 1e6, 1),
    }


def child_main(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import AnonymousUser
    from django.core.management import call_command

    from bench.common import database_label
    from concierge.accounts.models import Role, User
    from concierge.search import vectors
    from concierge.search.services import search

    call_command("migrate", verbosity=0)
    # The indexed objects exist only in the index here (no article or ticket
    # rows): sources whose query-time re-check lets every indexed id through,
    # as the ticket policy does for staff and the article policy for
    # published public articles.
    from concierge.search import registry

    for kind in ("article", "ticket"):
        registry.register_source(kind, lambda ids: {}, lambda: [], lambda user, ids: set(ids))
    settings.SEARCH_ENCODERS = {"article": "default", "ticket": "static", "customer": ""}
    texts = load_texts(args.data)
    rng = random.Random(11)
    questions = rng.sample(texts[2], min(QUERIES, len(texts[2])))
    keywords = [keyword_query(rng, question) for question in questions]
    rows: list[dict[str, Any]] = []
    # Latency on a shared machine depends on its load: recorded with the figures.
    summary: dict[str, Any] = {"database": database_label(), "load_at_start": os.getloadavg()[0]}
    clock: dict[str, float] = {}

    seconds = index_articles(args.articles, texts, clock)
    encoder_seconds = clock.get("default", 0.0)
    replayed = "default_replayed" in clock
    rows.append(
        {
            "corpus": f"{args.articles:,} articles",
            "what": "index (MiniLM, ~8 vectors each)",
            "entries/s": round(args.articles / seconds, 1),
            "lexical entries/s": round(args.articles / max(seconds - encoder_seconds, 1e-9), 1),
            "semantic entries/s": "reused"
            if replayed
            else round(args.articles / max(encoder_seconds, 1e-9), 1),
            "seconds": round(seconds, 1),
        }
    )
    visitor = AnonymousUser()
    started = time.perf_counter()
    search(user=visitor, query="warm up", kinds=("article",))
    summary["articles.matrix_load_seconds"] = round(time.perf_counter() - started, 2)
    for mode in ("hybrid", "lexical", "semantic"):
        for label, queries in (("questions", questions), ("keywords", keywords)):
            p50, p95 = _latencies(
                lambda q, m=mode: search(
                    user=visitor, query=q, kinds=("article",), mode=m, limit=10
                ),
                queries,
            )
            rows.append(
                {
                    "corpus": f"{args.articles:,} articles",
                    "what": f"search {mode}, {label}",
                    "p50 ms": round(p50, 1),
                    "p95 ms": round(p95, 1),
                }
            )
            summary[f"articles.{mode}.{label}.p95_ms"] = round(p95, 1)

    seconds = index_tickets(args.tickets, texts, clock)
    encoder_seconds = clock.get("static", 0.0)
    rows.append(
        {
            "corpus": f"{args.tickets:,} tickets",
            "what": "index (static encoder, 1 vector each)",
            "entries/s": round(args.tickets / seconds, 1),
            "lexical entries/s": round(args.tickets / max(seconds - encoder_seconds, 1e-9), 1),
            "semantic entries/s": round(args.tickets / max(encoder_seconds, 1e-9), 1),
            "seconds": round(seconds, 1),
        }
    )
    summary["tickets.index_seconds"] = round(seconds, 1)
    summary["tickets.index_entries_per_second"] = round(args.tickets / seconds, 1)
    agent = User.objects.create(
        email="bench-agent@concierge.test", name="Bench Agent", role=Role.AGENT
    )
    started = time.perf_counter()
    search(user=agent, query="warm up", kinds=("ticket",))
    summary["tickets.matrix_load_seconds"] = round(time.perf_counter() - started, 2)
    for mode in ("hybrid", "lexical", "semantic"):
        for label, queries in (("questions", questions), ("keywords", keywords)):
            p50, p95 = _latencies(
                lambda q, m=mode: search(user=agent, query=q, kinds=("ticket",), mode=m, limit=20),
                queries,
            )
            rows.append(
                {
                    "corpus": f"{args.tickets:,} tickets",
                    "what": f"search {mode}, {label}",
                    "p50 ms": round(p50, 1),
                    "p95 ms": round(p95, 1),
                }
            )
            summary[f"tickets.{mode}.{label}.p95_ms"] = round(p95, 1)
    matrix = vectors.matrix("static")
    summary["tickets.matrix_mb"] = round(matrix.vectors.nbytes / 1e6, 1)
    if args.scan:
        scan = semantic_scan(args.scan, matrix.vectors.shape[1] or 128)
        rows.append(
            {
                "corpus": f"{args.scan:,} ticket vectors (in memory)",
                "what": "semantic step of a hybrid search",
                "p50 ms": scan["p50 ms"],
                "p95 ms": scan["p95 ms"],
            }
        )
        summary["scan.vectors"] = args.scan
        summary["scan.p95_ms"] = scan["p95 ms"]
        summary["scan.matrix_mb"] = scan["matrix MB"]
    summary["load_at_end"] = os.getloadavg()[0]
    print_table(f"Search at {args.articles:,} articles / {args.tickets:,} tickets", rows)
    if args.quick:
        print(json.dumps(summary), flush=True)
    else:
        append_results(f"{NAME} ({args.child})", rows, summary)
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--database", default="all", choices=["sqlite", "postgresql", "all"])
    parser.add_argument("--quick", action="store_true", help="1,000 articles, 20,000 tickets")
    parser.add_argument("--articles", type=int, default=0)
    parser.add_argument("--tickets", type=int, default=0)
    parser.add_argument(
        "--scan",
        type=int,
        default=1_000_000,
        help="also time the semantic step over this many in-memory vectors (0: skip)",
    )
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.articles = args.articles or (1_000 if args.quick else 10_000)
    args.tickets = args.tickets or (20_000 if args.quick else 1_000_000)
    if args.quick:
        args.scan = min(args.scan, 100_000)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    databases = databases_to_run(args.database)
    if databases is None:
        return 2
    import tempfile

    cache = tempfile.mkdtemp(prefix="concierge-bench-search-")
    results = {}
    for database in databases:
        summary = run_child_pass(
            module="bench.search",
            database=database,
            argv=argv,
            scratch_database="concierge_bench_search",
            extra_env={"TASK_BACKEND": "immediate", "BENCH_SEARCH_CACHE": cache},
        )
        if summary is not None:
            results[database] = summary
    import shutil

    shutil.rmtree(cache, ignore_errors=True)
    print(json.dumps({"benchmark": NAME, "passes": results}, default=str), flush=True)
    return 0 if len(results) == len(databases) else 1


if __name__ == "__main__":
    sys.exit(main())
