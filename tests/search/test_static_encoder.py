"""The static encoder, built for real from the packaged model (on a small vocabulary).

The full matrix (30,522 tokens) takes about a minute to distil, so it is not
built in a clean clone's test run. These tests distil only the tokens of
their own sentences: the same code path (transformer per token, weights,
PCA, float16 file, loading, weighted pooling) in a second or two.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.test import override_settings

from concierge.search import encoders

SENTENCES = [
    "my parcel never arrived",
    "where is my package",
    "the delivery of my order is late",
    "change my password",
    "I forgot my password and cannot sign in",
    "refund for a damaged item",
    "I want my money back",
]


@pytest.fixture(scope="module")
def small_matrix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("static") / "static-small.npz"
    return encoders.build_static_embeddings(
        path, token_ids=sorted(encoders.vocabulary_ids(SENTENCES))
    )


@pytest.fixture
def static_from_settings(small_matrix: Path) -> Iterator[encoders.Encoder]:
    """``get_encoder("static")`` loading the small matrix named in the settings."""
    encoders._encoders.pop("static", None)
    with override_settings(SEARCH_STATIC_EMBEDDINGS=str(small_matrix)):
        yield encoders.get_encoder("static")
    encoders._encoders.pop("static", None)


def test_static_encoder_is_close_to_the_model_it_was_distilled_from(static_from_settings):
    static = static_from_settings
    vectors = static.encode(SENTENCES)

    assert vectors.shape == (len(SENTENCES), encoders.STATIC_DIM) == (7, static.dim)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    # Paraphrases are closer to each other than to another topic.
    assert similarity[0, 1] > similarity[0, 3]
    assert similarity[3, 4] > similarity[3, 0]
    # Its nearest neighbours agree with the transformer's on most sentences
    # (the evaluation measures how much ranking quality it costs).
    full = encoders.get_encoder("default").encode(SENTENCES)
    full_similarity = full @ full.T
    np.fill_diagonal(similarity, -1)
    np.fill_diagonal(full_similarity, -1)
    agreeing = (similarity.argmax(axis=1) == full_similarity.argmax(axis=1)).sum()
    assert agreeing > len(SENTENCES) // 2


def test_static_encoder_gives_zero_vectors_for_text_without_known_tokens(small_matrix):
    static = encoders.StaticEncoder(small_matrix)

    vectors = static.encode(["", "zebra xylophone", "where is my package"])

    assert not vectors[0].any()
    assert not vectors[1].any()  # tokens outside the small vocabulary weigh nothing
    assert np.isclose(np.linalg.norm(vectors[2]), 1.0, atol=1e-4)


def test_static_matrix_file_records_how_it_was_made(small_matrix):
    with np.load(small_matrix) as stored:
        assert stored["vectors"].dtype == np.float16
        assert stored["vectors"].shape[1] == encoders.STATIC_DIM
        meta = str(stored["meta"])
    assert '"tokens": ' in meta and '"pca": 128' in meta
