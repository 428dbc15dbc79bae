"""Search speed: query latency and indexing throughput at help-desk scale.

    ./concierge bench search [--database all|sqlite|postgresql] [--quick] [--data DIR]
                             [--articles N] [--tickets N] [--workers N] [--serial-sample N]
                             [--encode-articles K] [--scratch-database NAME]

Per database (a scratch SQLite file / a scratch PostgreSQL database):

1. indexes ARTICLES help-center articles (default 10,000) with the MiniLM
   encoder (whole text, title and up to 8 passages each), then times
   searches of them by an anonymous visitor (hybrid, lexical, semantic).
   With --encode-articles K only the first K are run through MiniLM and the
   others reuse their vectors (semantic latency depends on the number of
   vectors, not on their values; MiniLM throughput is measured on the K).
   Production's help centers use the "mpnet+minilm+e5" encoder: the query
   encoding of MiniLM, MiniLM+e5 and all three is timed on the same
   questions, for what the bigger models add to a search;
2. indexes TICKETS ticket documents (default 1,000,000) with the static
   encoder through ``search.actions.write_documents`` (the path every save
   takes): the first --serial-sample with one process, the rest with
   --workers forked processes (``actions.in_workers``, as
   ``manage rebuild_search_index --workers``), then refreshes the planner
   statistics (``actions.after_bulk_index``); then times staff searches of
   them: short keyword queries and whole questions, per ranking mode.

Texts are realistic rather than random words: sentences of customer messages
and agent answers from ``intent/*/train.csv`` in the shared data (Bitext,
Banking77, CLINC150), combined at random into subjects and bodies; queries are
drawn from the ``test_public`` utterances, which no indexed text contains
verbatim. Indexing throughput is split into the encoder's share (semantic)
and the rest (rows, full-text index, vocabulary: lexical), both per core
(seconds summed over workers); "entries/s" is wall clock. MiniLM article
vectors are encoded once per run and reused by the second database pass
(its semantic throughput is the first pass's). The summary also gives the
hybrid / lexical median ratio measured in the same run.

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
# Threads per model when a web process encodes a question: the default of
# settings.SEARCH_ENCODER_THREADS (this benchmark's child raises that setting
# to every core for indexing, so query encoding builds its own encoders).
PRODUCTION_ENCODER_THREADS = 1


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
    count: int,
    texts: tuple[list[str], list[str], list[str]],
    clock: dict[str, float],
    encode_limit: int = 0,
) -> float:
    """Indexes ``count`` articles; returns the seconds it took.

    With ``encode_limit`` (K) only articles 1..K are encoded by MiniLM;
    article i > K gets the vectors of article ((i - 1) mod K) + 1 (its own
    text still goes to the full-text index). The semantic search cost
    depends on how many vectors there are, not on their values, so latency
    at 10,000 articles is measured without spending an hour of a shared
    machine's CPU on MiniLM; semantic throughput is then measured on the K.
    """
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
    original_vectors = actions._document_vectors
    blocks: dict[int, Any] = {}

    def reused_vectors(documents: list[Any], encoder_name: str) -> list[Any]:
        fresh = [document for document in documents if document.object_id <= encode_limit]
        encoded = iter(original_vectors(fresh, encoder_name) if fresh else [])
        result = []
        for document in documents:
            if document.object_id <= encode_limit:
                blocks[document.object_id] = next(encoded)
                result.append(blocks[document.object_id])
            else:
                result.append(blocks[(document.object_id - 1) % encode_limit + 1])
        return result

    if 0 < encode_limit < count:
        actions._document_vectors = reused_vectors  # type: ignore[assignment]
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
    actions._document_vectors = original_vectors  # type: ignore[assignment]
    # Searches encode their queries with the real encoder again.
    get_encoder("default").__dict__.pop("encode", None)
    if recorded and os.environ.get("BENCH_SEARCH_CACHE"):
        np.savez(cache_path, vectors=np.concatenate(recorded))
    if cached is not None:
        clock["default_replayed"] = 1.0
    return elapsed


_TICKETS: dict[str, Any] = {}  # what forked ticket workers need (set before the fork)


def _ticket_batch(start: int) -> tuple[int, float, float]:
    """Makes and indexes tickets start+1 .. start+TICKET_BATCH; (count, seconds, encoder seconds).

    Runs in a forked worker (or in the bench process with one worker). Each
    batch has its own random seed, so the texts do not depend on which
    worker makes them.
    """
    from concierge.search import actions
    from concierge.search.documents import IndexDocument

    customer, agent, _ = _TICKETS["texts"]
    clock: dict[str, float] = _TICKETS["clock"]
    rng = random.Random(7_000_003 + start)
    documents = []
    for object_id in range(start + 1, min(_TICKETS["count"], start + TICKET_BATCH) + 1):
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
    encoder_before = clock.get("static", 0.0)
    started = time.perf_counter()
    actions.write_documents(kind="ticket", documents=documents)
    return (
        len(documents),
        time.perf_counter() - started,
        clock.get("static", 0.0) - encoder_before,
    )


def index_tickets(
    count: int,
    texts: tuple[list[str], list[str], list[str]],
    clock: dict[str, float],
    *,
    workers: int,
    serial_sample: int,
) -> dict[str, float]:
    """Indexes ``count`` tickets: the first ``serial_sample`` with one process, the rest with
    ``workers`` forked processes (actions.in_workers, as ``rebuild_search_index --workers``).

    Returns wall seconds (total, and of each phase) and the summed seconds
    spent in write_documents and in the encoder, for per-core rates.
    """
    from concierge.search import actions

    _TICKETS.update(texts=texts, count=count, clock=clock)
    _timed_encoder("static", clock)
    starts = list(range(0, count, TICKET_BATCH))
    serial = [start for start in starts if start < serial_sample]
    parallel = [start for start in starts if start >= serial_sample]
    totals = {"write": 0.0, "encoder": 0.0, "serial_entries": 0.0, "parallel_entries": 0.0}
    done = 0
    started = time.perf_counter()
    phase_started = started
    for phase, jobs, processes in (("serial", serial, 1), ("parallel", parallel, workers)):
        phase_started = time.perf_counter()
        for entries, seconds, encoder_seconds in actions.in_workers(
            _ticket_batch, jobs, workers=processes
        ):
            totals["write"] += seconds
            totals["encoder"] += encoder_seconds
            totals[f"{phase}_entries"] += entries
            done += entries
            if done % 100_000 < TICKET_BATCH:
                rate = done / (time.perf_counter() - started)
                print(f"  tickets: {done:,} indexed ({rate:,.0f}/s)", file=sys.stderr, flush=True)
        totals[f"{phase}_seconds"] = time.perf_counter() - phase_started
    finishing = time.perf_counter()
    actions.after_bulk_index()
    totals["analyze_seconds"] = time.perf_counter() - finishing
    totals["seconds"] = time.perf_counter() - started
    return totals


def approximate_index_rows(
    matrix: Any, questions: list[str], summary: dict[str, Any]
) -> list[dict[str, Any]]:
    """Builds the ANN index of the ticket vectors and measures what it costs and finds.

    Recall@10: the share of the exact scan's ten nearest tickets that the ANN
    path (probe, then exact re-scoring of its candidates) also returns.
    """
    import numpy as np

    from concierge.search.services import _query_vector

    started = time.perf_counter()
    if not matrix.wait_for_ann():
        return []
    build_seconds = time.perf_counter() - started
    recalls, ann_ms, exact_ms = [], [], []
    for question in questions:
        vector = _query_vector("static", question)
        begun = time.perf_counter()
        approximate = matrix.scores(vector, kinds=["ticket"], allowed_ids=None)
        ann_ms.append(1000 * (time.perf_counter() - begun))
        matrix.approximate = False
        begun = time.perf_counter()
        exact = matrix.scores(vector, kinds=["ticket"], allowed_ids=None)
        exact_ms.append(1000 * (time.perf_counter() - begun))
        matrix.approximate = True
        best = set(exact.document_ids[np.argsort(-exact.whole, kind="stable")[:10]].tolist())
        found = set(
            approximate.document_ids[np.argsort(-approximate.whole, kind="stable")[:10]].tolist()
        )
        recalls.append(len(best & found) / max(1, len(best)))
    summary["tickets.ann_build_seconds"] = round(build_seconds, 1)
    summary["tickets.ann_recall_at_10"] = round(float(np.mean(recalls)), 3)
    summary["tickets.ann.p50_ms"] = round(median(ann_ms), 1)
    summary["tickets.ann.p95_ms"] = round(percentile(ann_ms, 95), 1)
    summary["tickets.exact_scan.p50_ms"] = round(median(exact_ms), 1)
    summary["tickets.exact_scan.p95_ms"] = round(percentile(exact_ms, 95), 1)
    summary["tickets.exact_over_ann.p50_ratio"] = round(
        median(exact_ms) / max(median(ann_ms), 1e-9), 1
    )
    corpus = f"{matrix.size:,} ticket vectors"
    return [
        {
            "corpus": corpus,
            "what": "ANN index build (faiss IVF-SQ8, background thread, 1 core)",
            "seconds": round(build_seconds, 1),
        },
        {
            "corpus": corpus,
            "what": f"semantic step, ANN (recall@10 vs exact {np.mean(recalls):.3f})",
            "p50 ms": summary["tickets.ann.p50_ms"],
            "p95 ms": summary["tickets.ann.p95_ms"],
        },
        {
            "corpus": corpus,
            "what": "semantic step, exact scan (baseline, same run)",
            "p50 ms": summary["tickets.exact_scan.p50_ms"],
            "p95 ms": summary["tickets.exact_scan.p95_ms"],
        },
    ]


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
    matrix.approximate = False  # the exact scan, for comparison with the ANN index
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

    encode_limit = min(args.encode_articles or args.articles, args.articles)
    seconds = index_articles(args.articles, texts, clock, encode_limit)
    encoder_seconds = clock.get("default", 0.0)
    replayed = "default_replayed" in clock
    lexical_rate = args.articles / max(seconds - encoder_seconds, 1e-9)
    semantic_rate = encode_limit / max(encoder_seconds, 1e-9)
    rows.append(
        {
            "corpus": f"{args.articles:,} articles",
            "what": "index (MiniLM, whole + title + up to 8 passages)"
            + (
                f"; MiniLM on the first {encode_limit:,}, their vectors reused by the rest"
                if encode_limit < args.articles
                else ""
            ),
            "entries/s": round(args.articles / seconds, 1)
            if encode_limit == args.articles and not replayed
            else "",
            "lexical entries/s": round(lexical_rate, 1),
            "semantic entries/s": "reused" if replayed else round(semantic_rate, 1),
            "seconds": round(seconds, 1),
        }
    )
    summary["articles.encoded_by_minilm"] = 0 if replayed else encode_limit
    summary["articles.lexical_entries_per_second"] = round(lexical_rate, 1)
    if not replayed:
        summary["articles.semantic_entries_per_second"] = round(semantic_rate, 2)
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
            summary[f"articles.{mode}.{label}.p50_ms"] = round(p50, 1)
            summary[f"articles.{mode}.{label}.p95_ms"] = round(p95, 1)
    # The article rows search with MiniLM vectors; production's help centers
    # use "mpnet+minilm+e5" (settings.SEARCH_ENCODERS), whose query encoding
    # costs more. The encoders' query encoding, timed on the same questions,
    # shows what that adds (it overlaps the lexical query in a search). Timed
    # as production runs them, one thread per model (a fused encoder's models
    # side by side, SEARCH_PARALLEL_QUERY_PARTS), not with this process's
    # SEARCH_ENCODER_THREADS, which is set to every core for indexing.
    from concierge.search.encoders import build_encoder

    for encoder_name in ("default", "minilm+e5", "mpnet+minilm+e5"):
        encoder = build_encoder(encoder_name, threads=PRODUCTION_ENCODER_THREADS)
        encoder.encode_queries(["warm up"])
        p50, p95 = _latencies(lambda q, e=encoder: e.encode_queries([q]), questions)
        rows.append(
            {
                "corpus": "article queries",
                "what": f"query encoding, {encoder_name} encoder (questions, one thread per model)",
                "p50 ms": round(p50, 1),
                "p95 ms": round(p95, 1),
            }
        )
        summary[f"articles.query_encoding.{encoder_name}.p50_ms"] = round(p50, 1)
        summary[f"articles.query_encoding.{encoder_name}.p95_ms"] = round(p95, 1)

    serial_sample = min(args.serial_sample, args.tickets) if args.workers > 1 else args.tickets
    timing = index_tickets(
        args.tickets, texts, clock, workers=args.workers, serial_sample=serial_sample
    )
    seconds = timing["seconds"]
    lexical_seconds = timing["write"] - timing["encoder"]  # summed over workers: per core
    for phase, processes in (("serial", 1), ("parallel", args.workers)):
        entries = timing[f"{phase}_entries"]
        if not entries:
            continue
        rows.append(
            {
                "corpus": f"{args.tickets:,} tickets",
                "what": f"index tickets {int(entries):,} (static encoder, 1 vector each), "
                f"{processes} process{'es' if processes > 1 else ''}",
                "entries/s": round(entries / timing[f"{phase}_seconds"], 1),
                "seconds": round(timing[f"{phase}_seconds"], 1),
            }
        )
        summary[f"tickets.index_{phase}_entries_per_second"] = round(
            entries / timing[f"{phase}_seconds"], 1
        )
    rows.append(
        {
            "corpus": f"{args.tickets:,} tickets",
            "what": "index tickets, whole build incl. statistics (ANALYZE)",
            "entries/s": round(args.tickets / seconds, 1),
            "lexical entries/s": round(args.tickets / max(lexical_seconds, 1e-9), 1),
            "semantic entries/s": round(args.tickets / max(timing["encoder"], 1e-9), 1),
            "seconds": round(seconds, 1),
        }
    )
    summary["tickets.index_seconds"] = round(seconds, 1)
    summary["tickets.index_entries_per_second"] = round(args.tickets / seconds, 1)
    summary["tickets.analyze_seconds"] = round(timing["analyze_seconds"], 1)
    summary["tickets.workers"] = args.workers
    summary["note"] = (
        "lexical/semantic entries/s are per core (entries over the seconds summed over "
        "workers outside/inside the encoder); entries/s is wall clock"
    )
    agent = User.objects.create(
        email="bench-agent@concierge.test", name="Bench Agent", role=Role.AGENT
    )
    started = time.perf_counter()
    search(user=agent, query="warm up", kinds=("ticket",))
    summary["tickets.matrix_load_seconds"] = round(time.perf_counter() - started, 2)
    rows.extend(approximate_index_rows(vectors.matrix("static"), questions, summary))
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
            summary[f"tickets.{mode}.{label}.p50_ms"] = round(p50, 1)
            summary[f"tickets.{mode}.{label}.p95_ms"] = round(p95, 1)
    for corpus in ("articles", "tickets"):
        for label in ("questions", "keywords"):
            lexical = summary.get(f"{corpus}.lexical.{label}.p50_ms")
            hybrid = summary.get(f"{corpus}.hybrid.{label}.p50_ms")
            if lexical and hybrid:
                # Baseline from the same run: what hybrid ranking costs over lexical alone.
                summary[f"{corpus}.hybrid_over_lexical.{label}.p50_ratio"] = round(
                    hybrid / lexical, 2
                )
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
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes indexing tickets (default: one per core)",
    )
    parser.add_argument(
        "--serial-sample",
        type=int,
        default=50_000,
        help="tickets indexed by one process first, for the speed-up of the workers",
    )
    parser.add_argument(
        "--encode-articles",
        type=int,
        default=0,
        help="encode only this many articles with MiniLM, reuse their vectors (0: all)",
    )
    parser.add_argument(
        "--scratch-database",
        default="concierge_bench_search",
        help="PostgreSQL scratch database (created and dropped)",
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
            scratch_database=args.scratch_database,
            extra_env={
                "TASK_BACKEND": "immediate",
                "BENCH_SEARCH_CACHE": cache,
                # MiniLM for articles uses every core (tickets use worker processes).
                "SEARCH_ENCODER_THREADS": str(args.workers),
            },
        )
        if summary is not None:
            results[database] = summary
    import shutil

    shutil.rmtree(cache, ignore_errors=True)
    print(json.dumps({"benchmark": NAME, "passes": results}, default=str), flush=True)
    return 0 if len(results) == len(databases) else 1


if __name__ == "__main__":
    sys.exit(main())
