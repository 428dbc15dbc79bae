"""Triage: the team's categories, the predictions made on tickets and the trained models.

Every agent correction of a prediction is kept on the prediction itself
(``corrected_label``); those corrected rows are the labels the intent
classifier is retrained on.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from concierge.core.models import TimestampedModel


class PredictionKind(models.TextChoices):
    LANGUAGE = "language", "Language"
    SENTIMENT = "sentiment", "Sentiment"
    INTENT = "intent", "Intent"
    URGENCY = "urgency", "Urgency"
    ABUSE = "abuse", "Abuse"
    SPAM = "spam", "Spam"
    # A custom field's value found in the message (``Prediction.field_key`` names the field).
    ENTITY = "entity", "Detected field"


# The kinds the models predict, one per message; entities are found per detecting field.
MODEL_KINDS = tuple(kind for kind in PredictionKind.values if kind != PredictionKind.ENTITY)

# The label given when no category is confident enough ("none of these").
OUT_OF_SCOPE = "out_of_scope"

# The model version of rows that hold a label people gave, not a model's guess
# (requests a desk sorted before it used triage, the demo's solved ones):
# training learns from them like any correction; the triage report leaves them
# out of how often agents agree with the model.
LABELLED_HISTORY = "labelled-history"

SENTIMENT_LABELS = ("negative", "neutral", "positive")
URGENCY_LABELS = ("low", "normal", "high", "urgent")
ABUSE_LABELS = ("clean", "profanity", "abusive")
SPAM_LABELS = ("ham", "spam")


class Category(TimestampedModel):
    """One intent the team routes on; few-shot examples seed the classifier."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=500, blank=True)
    examples = models.TextField(blank=True, help_text="Example customer phrases, one per line.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    @property
    def example_list(self) -> list[str]:
        return [line.strip() for line in self.examples.splitlines() if line.strip()]


class Prediction(TimestampedModel):
    """What a model said about a ticket (or one of its customer messages)."""

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="predictions"
    )
    entry = models.ForeignKey(
        "tickets.Entry", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=PredictionKind.choices)
    label = models.CharField(max_length=100)
    score = models.FloatField(default=0.0, help_text="Sentiment: -1 (negative) .. 1 (positive).")
    confidence = models.FloatField(default=0.0)
    model_version = models.CharField(max_length=64)
    reasons = models.JSONField(default=list, blank=True)
    corrected_label = models.CharField(max_length=100, blank=True)
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    corrected_at = models.DateTimeField(null=True, blank=True)
    text = models.TextField(
        blank=True, help_text="The text that was classified (kept so a correction is a label)."
    )
    field_key = models.CharField(
        max_length=64, blank=True, help_text="Entities: the custom field's key."
    )
    field_value = models.JSONField(
        null=True,
        blank=True,
        help_text="Entities: the value found (a dropdown's option, a multi-select's list); "
        "``label`` shows it as one line.",
    )

    class Meta:
        indexes = [
            models.Index(fields=["ticket", "kind", "-created_at"]),
            models.Index(fields=["kind", "label"]),
            models.Index(fields=["kind", "corrected_label"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind}={self.effective_label} ({self.confidence:.2f})"

    @property
    def effective_label(self) -> str:
        return self.corrected_label or self.label

    @property
    def is_corrected(self) -> bool:
        return bool(self.corrected_label)

    @property
    def slot(self) -> str:
        """What the latest prediction replaces: its kind, or ``entity:<field key>``."""
        return f"{self.kind}:{self.field_key}" if self.kind == PredictionKind.ENTITY else self.kind


class TriageModel(TimestampedModel):
    """A trained classifier (intent or sentiment): pickled artifact, version, validation score.

    Stored in the database so every web node and worker loads the same model.
    Per kind (intent, sentiment) at most one row is active; a retrain adds a row
    and activates it only when it scores at least as well as the active one on the
    same validation split.
    """

    kind = models.CharField(max_length=16, choices=PredictionKind.choices, default="intent")
    version = models.CharField(max_length=64, unique=True)
    artifact = models.BinaryField()
    is_active = models.BooleanField(default=False)
    validation_score = models.FloatField(null=True, blank=True)
    previous_validation_score = models.FloatField(null=True, blank=True)
    training_examples = models.PositiveIntegerField(default=0)
    training_seconds = models.FloatField(default=0.0)
    labels = models.JSONField(default=list, blank=True)
    notes = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "is_active"])]

    def __str__(self) -> str:
        return self.version
