"""How lexical and semantic evidence combine into one ranking.

Plain reciprocal-rank fusion was measured worse than semantic search alone on
the help-center evaluation (ranks throw away how sure each side is: a weak
lexical match at rank 1 outweighs a strong semantic one at rank 3). So the
default is a weighted sum of scores on comparable scales:

* semantic score: a weighted mix of the cosine similarity of the query with
  the document's whole text, its title and its best passage (max-sim over
  the passages, each embedded after the title, so a question that matches
  one item of a "people also ask" list or one sentence of a long article
  finds it). For articles the vectors are "mpnet+minilm+e5" (encoders.py):
  each cosine is already the share-weighted sum of the three models'
  cosines, models that err differently;
* lexical score: BM25 (FTS5) or ts_rank (PostgreSQL), divided by the best
  lexical score of the query, so 1.0 = "the best lexical match there is" and
  a document no lexical query matched gets 0;
* hybrid = semantic + lexical weight x lexical.

The weights depend on the encoder (cosines of different models live on
different scales) and on the database where its lexical scores differ
(WEIGHTS_PER_DATABASE); they were fitted on the validation splits only
(bench/eval_search.py --tune); the test_public figures are reported, never
tuned on. Tried on validation and left out: per-query z-score normalisation
of each side (no better than raw cosines), soft-max pooling of passages,
a hubness penalty for articles close to many others (+0.002-0.005 MRR, not
worth a per-document statistic to keep up to date), e5 alone (weaker than
MiniLM here, better together), mean or top-2 pooling of passages instead of
the best one, centring the vectors on the articles' mean, pseudo-relevance
feedback (moving the query towards its top articles), e5's query prompt on
the article side, full-precision MiniLM instead of int8 (cosines 0.9995
alike): none raised both help centers by more than 0.003 MRR@10.

A second round (issue 5, Banking77 hybrid at 0.853 on validation against a
goal of 0.88) scored each idea on cached vectors of the validation questions
(a scratch harness that reproduces this module's 0.8999 / 0.8529 exactly);
Banking77 / Bitext MRR@10 changes against those: z-scoring each encoder per
query before mixing (-0.006 / -0.010); pooling passages per encoder, then
mixing (-0.003 / -0.004: mixing the cosines first, as the fused vectors do,
is better); separate field weights per encoder (+0.004 / -0.010); rank fusion
of the two encoders (-0.003 / -0.008); a query-adaptive MiniLM share from each
encoder's top-1 margin (-0.001 / -0.004); a bonus for agreeing encoders (no
gain); e5's "query: " on both sides or mixed prompts (-0.001 to -0.003 /
-0.004 to -0.007); untitled passages as extra rows (-0.001 to -0.005 / 0.000
to -0.006); Rocchio feedback from the best rows (-0.001 to -0.010 / +0.001 to
-0.009); second-order scoring (similarity profiles over all rows, +0.002 /
-0.009 at the same setting); a passage-level hubness correction (CSLS,
+0.001 / -0.001); removing the top principal directions or whitening by the
spread inside articles (-0.002 to -0.08); a logistic regression fitted on the
articles' own rows at index time (-0.001 / +0.001); re-encoding the question
after each of the top 10 titles ("title: question", +0.001 / -0.006, worse
with more weight); MiniLM token-level late interaction (ColBERT-style MaxSim,
+0.001 / +0.004, for token vectors stored per article); other shapes of the
lexical score (powers, reciprocal rank, z-score: none better than the
normalised score). As a ceiling (a diagnostic: the ranker itself never learns
from questions), a linear ranker over 17 such features fitted on half of
Banking77's validation questions scores 0.852 on the other half (Bitext:
0.909; gradient-boosted trees over them, 0.846 on Banking77): these two
encoders rank Banking77 at about 0.85 however their evidence is combined, so
its 0.88 goal needs a stronger encoder, not another fusion. (A difference
of 0.003 is also within the noise of 1,540 questions: the standard error of
their MRR@10 is about 0.008.)

A third round took that stronger encoder: all-mpnet-base-v2, the only bigger
sentence model found packaged on PyPI (search/mpnet.py). Alone it ranks
Banking77 / Bitext validation at 0.856 / 0.916 (semantic MRR@10), and mixed
50/20/30 with MiniLM and e5 at 0.865 / 0.923, against 0.850 / 0.895 for
MiniLM+e5 (cached vectors, the same harness).

A fourth round tried MPNet's middle layers (the layer vector sentiment reads,
search/encoders.py MPNET_LAYER_FEATURES), each layer's pooled vector unit
length, mixed into the MPNet part. MPNet alone on validation, Banking77 /
Bitext: last layer 0.860 / 0.910; with layer 6 at 0.4 of the last's weight
0.866 / 0.916; layer 10 or 8 alone 0.773 / 0.809 and 0.733 / 0.663; all four
averaged 0.831 / 0.882. Fused with MiniLM and e5 the gain shrinks to noise:
0.865 / 0.918 -> 0.869 / 0.919 at best (layer 6 at 0.3, MPNet's share 0.6),
over a grid of 15 settings, against a re-index of every article: left out.

A fifth round corrected the question's misspelt words before encoding
(symspellpy's English frequency list plus the articles' own words; words of
four letters or more, up to two edits), on cached validation evidence:
hybrid MRR@10 Banking77 0.8668 -> 0.8673 (48 of 1,540 questions changed),
Bitext 0.9185 -> 0.9076 (82 of 540: its questions misspell on purpose and
some corrections miss, "cancdling" -> "candling"); the mean of the original
and corrected question's scores 0.8670 / 0.9172. The encoders' sub-word
tokens already read most typos: left out.

Relevance cut-off: searches for customers and visitors (help center search,
suggestions in the portal and the chat widget) drop hits whose fused score is
below MIN_RELEVANCE of the encoder, so an off-topic question gets "no
results" (and shows in the admin report of searches without results) rather
than the least bad article. Thresholds were chosen on validation: the largest
one that loses at most 5% of the right answers of in-domain questions on
each help center, measured against CLINC150's out-of-scope questions (train
and validation splits); see the "cut-off" rows of bench/RESULTS.md. Agents'
searches are never cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from concierge.search.encoders import OTHER_LANGUAGE_SHARES
from concierge.search.vectors import DocumentScores

# How many of each side's best documents the fusion considers.
CANDIDATES = 100


@dataclass(frozen=True)
class Weights:
    whole: float = 0.43
    title: float = 0.14
    passage: float = 0.43
    lexical: float = 0.07


# Fitted on validation (bench/eval_search.py --tune), per encoder of the kind
# and, where they differ, per database: the lexical side is FTS5's BM25 on
# SQLite and ts_rank on PostgreSQL, two scores with different shapes.
# MiniLM alone: the whole text and the best passage matter equally, the title
# less, and lexical evidence breaks near ties. MiniLM+e5: the best passage
# (title-prefixed, see actions.contextual_passage) weighs most, then the
# whole text; lexical evidence is a tie-breaker only (the two models already
# agree on what the words say). On SQLite a weight of 0.02 added 0.001-0.004
# MRR@10 on validation; PostgreSQL's ts_rank, normalised the same way, lost
# MRR on Banking77 from 0.01 up, so it keeps a tie-breaking 0.005 (larger
# weights made hybrid worse than semantic alone there).
# MPNet+MiniLM+e5 keeps MiniLM+e5's semantic mix (on cached validation vectors
# the grid's best settings were within 0.003 MRR@10 of it on both help
# centers); its lexical weight was chosen on validation with the production
# path (bench/eval_search.py's evidence): 0.01 on SQLite (0.02 put Bitext's
# hybrid 0.001 under semantic alone), 0.005 on PostgreSQL (0.01 and 0.02 each
# put one help center under semantic alone; every weight was within 0.002).
WEIGHTS = {
    "default": Weights(whole=0.43, title=0.14, passage=0.43, lexical=0.07),
    "minilm+e5": Weights(whole=0.3, title=0.1, passage=0.6, lexical=0.02),
    "mpnet+minilm+e5": Weights(whole=0.3, title=0.1, passage=0.6, lexical=0.01),
}
WEIGHTS_PER_DATABASE = {
    ("minilm+e5", "postgresql"): Weights(whole=0.3, title=0.1, passage=0.6, lexical=0.005),
    ("mpnet+minilm+e5", "postgresql"): Weights(whole=0.3, title=0.1, passage=0.6, lexical=0.005),
}
DEFAULT_WEIGHTS = WEIGHTS["default"]

# Fused score below which a customer's or visitor's search drops a hit (see
# the module docstring). Encoders without a threshold are never cut. One value
# per encoder serves both databases: their lexical weights are too small to
# move it (0.619 vs 0.620 on Bitext's validation split). MPNet+MiniLM+e5: 5 % of
# Bitext's right answers in the top 10 score below 0.423 on validation (Banking77's
# below 0.543); at 0.42, 98.5 % / 94 % of CLINC150's off-topic validation
# questions get no result on the two help centers (MiniLM+e5 at 0.61: 94.5 / 88.5).
MIN_RELEVANCE = {"default": 0.32, "minilm+e5": 0.61, "mpnet+minilm+e5": 0.42}

# Encoders whose cut-off holds for one language only: those with parts that
# read one language (encoders.OTHER_LANGUAGE_SHARES). The cut-off was
# calibrated on English questions scored by all parts; a question in another
# language is scored by e5 alone, on another scale, so it is ranked but never
# cut.
CUT_OFF_LANGUAGE = {name: reads for name, (reads, _) in OTHER_LANGUAGE_SHARES.items()}


def weights_for(encoder: str, database: str = "") -> Weights:
    """The fusion weights fitted for ``encoder`` on ``database`` (a Django vendor name).

    Falls back to the encoder's weights when none were fitted for that
    database, and to MiniLM's when the encoder has none of its own.
    """
    return WEIGHTS_PER_DATABASE.get((encoder, database)) or WEIGHTS.get(encoder, DEFAULT_WEIGHTS)


def min_relevance(encoder: str, language: str = "") -> float | None:
    """The calibrated cut-off of ``encoder``'s fused scores, or None when it has none.

    ``language``: the question's (ISO 639-1, "" when unknown); None when the
    encoder's cut-off was calibrated for another one (CUT_OFF_LANGUAGE).
    """
    calibrated_for = CUT_OFF_LANGUAGE.get(encoder)
    if calibrated_for and language and language != calibrated_for:
        return None
    return MIN_RELEVANCE.get(encoder)


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
