"""How lexical and semantic evidence combine into one ranking.

Plain reciprocal-rank fusion was measured worse than semantic search alone on
the help-center evaluation (ranks throw away how sure each side is: a weak
lexical match at rank 1 outweighs a strong semantic one at rank 3). So the
default is a weighted sum of scores on comparable scales:

* semantic score: a weighted mix of the cosine similarity of the query with
  the document's whole text, its title and its best passage;
* lexical score: BM25 (FTS5) or ts_rank (PostgreSQL), divided by the best
  lexical score of the query, so 1.0 = "the best lexical match there is" and
  a document no lexical query matched gets 0;
* hybrid = semantic + LEXICAL_WEIGHT x lexical.

The weights were fitted on the validation splits only (bench/eval_search.py
--tune); the test_public figures are reported, never tuned on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from concierge.search.vectors import DocumentScores

# Semantic mix: whole text, title, best passage (sums to 1).
# Fitted on validation (bench/eval_search.py --tune): the whole text and the
# best passage matter equally, the title less; lexical evidence breaks near
# ties between close articles. Larger lexical weights lost MRR on both sets.
SEMANTIC_WEIGHTS = (0.43, 0.14, 0.43)
LEXICAL_WEIGHT = 0.07
# How many of each side's best documents the fusion considers.
CANDIDATES = 100


@dataclass(frozen=True)
class Weights:
    whole: float = SEMANTIC_WEIGHTS[0]
    title: float = SEMANTIC_WEIGHTS[1]
    passage: float = SEMANTIC_WEIGHTS[2]
    lexical: float = LEXICAL_WEIGHT


DEFAULT_WEIGHTS = Weights()


def semantic_scores(scores: DocumentScores, weights: Weights = DEFAULT_WEIGHTS) -> np.ndarray:
    return (
        weights.whole * scores.whole
        + weights.title * scores.title
        + weights.passage * scores.best_passage
    )


def top(ids: np.ndarray, values: np.ndarray, count: int) -> list[tuple[int, float]]:
    """The ``count`` best (id, value) pairs, best first (ties by id, for stable results)."""
    if ids.size == 0:
        return []
    count = min(count, ids.size)
    chosen = (
        np.argpartition(-values, count - 1)[:count] if count < ids.size else np.arange(ids.size)
    )
    ordered = sorted(chosen, key=lambda index: (-float(values[index]), int(ids[index])))
    return [(int(ids[index]), float(values[index])) for index in ordered]


def fuse(
    *,
    lexical: list[tuple[int, float]],
    semantic: DocumentScores | None,
    mode: str,
    weights: Weights = DEFAULT_WEIGHTS,
    limit: int,
) -> list[tuple[int, float]]:
    """Ranks documents for ``mode`` ("lexical", "semantic" or "hybrid"); best first."""
    best_lexical = max((score for _, score in lexical), default=0.0)
    lexical_normalised = (
        {document_id: score / best_lexical for document_id, score in lexical}
        if best_lexical > 0
        else {document_id: 0.0 for document_id, _ in lexical}
    )
    if mode == "lexical" or semantic is None:
        ranked = sorted(lexical_normalised.items(), key=lambda item: (-item[1], item[0]))
        return ranked[:limit]
    combined = semantic_scores(semantic, weights)
    if mode == "semantic":
        return top(semantic.document_ids, combined, limit)
    # Hybrid: every lexical candidate plus the best semantic ones.
    semantic_values = dict(top(semantic.document_ids, combined, max(CANDIDATES, limit)))
    missing = [
        document_id for document_id in lexical_normalised if document_id not in semantic_values
    ]
    if missing:
        # Semantic scores of lexical candidates outside the semantic top
        # (vectorised: the matrix may hold a million documents).
        if semantic.ids_sorted:
            wanted = np.asarray(sorted(missing), dtype=np.int64)
            found = np.searchsorted(semantic.document_ids, wanted)
            found = found[found < semantic.document_ids.size]
            positions = found[np.isin(semantic.document_ids[found], wanted)]
        else:
            positions = np.flatnonzero(np.isin(semantic.document_ids, missing))
        for position in positions:
            semantic_values[int(semantic.document_ids[position])] = float(combined[position])
    fused: dict[int, float] = {}
    for document_id in set(semantic_values) | set(lexical_normalised):
        fused[document_id] = semantic_values.get(document_id, 0.0) + weights.lexical * (
            lexical_normalised.get(document_id, 0.0)
        )
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:limit]
