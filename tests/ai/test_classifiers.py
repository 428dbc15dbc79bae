"""The linear text classifier's fast single-message path gives scikit-learn's exact answers."""

from __future__ import annotations

import numpy as np

from concierge.ai.classifiers import (
    TextClassifier,
    TrainingConfig,
    _linear_scores,
    normalise_text,
    tfidf_transform,
)
from tests.ai.samples import SENTIMENT_SAMPLES

TRAIN = SENTIMENT_SAMPLES
UNSEEN = [
    "the crew was great but my bag is lost",
    "",
    "zzzz qqqq",  # no known word: an all-zero row
    "Thanks!!! @united http://example.com 123",
]


def _trained() -> TextClassifier:
    texts = [text for examples in TRAIN.values() for text in examples]
    labels = [label for label, examples in TRAIN.items() for _ in examples]
    return TextClassifier(TrainingConfig(use_embeddings=False)).fit(texts, labels)


def test_tfidf_transform_matches_scikit_learn_for_words_and_characters() -> None:
    model = _trained()
    texts = [normalise_text(text) for text in UNSEEN]
    for vectorizer in (model._word, model._char):
        ours = tfidf_transform(vectorizer, texts)
        theirs = vectorizer.transform(texts)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours.toarray(), theirs.toarray(), atol=1e-12)
    assert tfidf_transform(model._word, [normalise_text("zzzz qqqq")]).nnz == 0


def test_linear_scores_match_decision_function() -> None:
    model = _trained()
    features = model._features(UNSEEN, None)
    np.testing.assert_allclose(
        _linear_scores(model._svm, features), model._svm.decision_function(features), atol=1e-12
    )


def test_top_terms_name_the_words_that_push_towards_the_label() -> None:
    model = _trained()
    assert "great" in model.top_terms("great crew, thank you", "positive", 3)
    assert "great" not in model.top_terms("great crew, thank you", "negative", 3)
    assert model.top_terms("great crew", "no-such-label") == []
