"""Each predictor on small crafted inputs (the packaged models, loaded once per process)."""

from __future__ import annotations

import pytest

from concierge.ai import predictors
from concierge.ai.models import OUT_OF_SCOPE


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Where is my parcel? It was due last week.", "en"),
        ("Bonjour, ma commande n'est toujours pas arrivée.", "fr"),
        ("Hola, necesito ayuda con mi factura por favor.", "es"),
        ("Hallo, ich kann mich nicht mehr anmelden.", "de"),
    ],
)
def test_language_of_short_texts(text: str, language: str) -> None:
    result = predictors.predict_language(text)
    assert result.label == language
    assert result.model_version == predictors.LANGUAGE_VERSION


def test_language_of_one_word_is_uncertain() -> None:
    result = predictors.predict_language("ok")
    assert result.confidence <= 0.5
    assert any("low certainty" in reason for reason in result.reasons)


def test_complaint_without_emotional_words_is_negative() -> None:
    result = predictors.lexicon_sentiment("I was charged twice and want a refund now")
    assert result.label == "negative"
    assert result.score < 0
    assert "charged twice" in result.reasons


def test_thanks_is_positive_and_a_question_neutral() -> None:
    assert predictors.lexicon_sentiment("Thank you so much, that was really helpful!").label == (
        "positive"
    )
    assert predictors.lexicon_sentiment("What are your opening hours?").label == "neutral"


def test_profanity_is_flagged_and_insult_is_abusive() -> None:
    assert predictors.predict_abuse("this shit app crashed again").label in {"profanity", "abusive"}
    abusive = predictors.predict_abuse("you are a fucking idiot")
    assert abusive.label == "abusive"
    assert "aimed at a person" in abusive.reasons
    assert predictors.predict_abuse("Could you help me with my order?").label == "clean"


def test_spam_is_flagged_with_reasons() -> None:
    spam = predictors.predict_spam(
        "Congratulations! You have won a prize. Click here http://a.example http://b.example "
        "http://c.example to claim your reward"
    )
    assert spam.label == "spam"
    assert "prize bait" in spam.reasons
    assert predictors.predict_spam("My invoice shows the wrong amount").label == "ham"


def test_urgency_rises_with_cues() -> None:
    assert predictors.predict_urgency("Our site is down, urgent, all users affected").label in {
        "high",
        "urgent",
    }
    assert predictors.predict_urgency("Someone hacked my account, fraud, urgent!").label == "urgent"
    assert predictors.predict_urgency("How do I change my avatar?").label == "normal"


def test_urgency_hears_money_taken_and_requests_that_can_wait() -> None:
    angry = predictors.PredictionResult("negative", 0.9, "test", -0.9, [])
    charged = predictors.predict_urgency("You charged me twice AGAIN, fix it", sentiment=angry)
    assert charged.label == "high"
    assert "money taken" in charged.reasons and "very negative (-0.90)" in charged.reasons
    calm = predictors.predict_urgency("I was overcharged on my last invoice")
    assert calm.label == "normal" and calm.reasons == ["money taken"]

    later = predictors.predict_urgency("Feature request: dark mode would be nice, no rush")
    assert later.label == "low" and "says it can wait" in later.reasons
    # Cues add up: "no rush" tempers an outage to normal; an urgent outage stays high.
    tempered = predictors.predict_urgency("No rush, but our site is down for all users")
    assert tempered.label == "normal"
    assert predictors.predict_urgency("Site down, urgent! not urgent for you maybe").label == "high"


def test_few_shot_intent_picks_category_from_examples(categories: list) -> None:
    result = predictors.predict_intent("I got billed two times for the same order, refund me")
    assert result.label == "billing"
    assert result.model_version.startswith(predictors.FEW_SHOT_PREFIX)
    assert result.reasons


def test_few_shot_intent_answers_out_of_scope_when_unsure(categories: list) -> None:
    result = predictors.predict_intent("what is the capital of mongolia")
    assert result.label == OUT_OF_SCOPE
    assert "below" in result.reasons[0]


def test_trained_classifier_answers_out_of_scope_when_confidence_is_low() -> None:
    from concierge.ai.classifiers import TextClassifier, TrainingConfig

    texts = ["refund my card", "charged twice", "where is my parcel", "package not delivered"] * 5
    labels = ["billing", "billing", "shipping", "shipping"] * 5
    model = TextClassifier(TrainingConfig(use_embeddings=False)).fit(
        texts, labels, out_of_scope_label=OUT_OF_SCOPE
    )
    model.out_of_scope_threshold = 0.99  # nothing this model says is that certain
    result = model.predict(["tell me a joke"])[0]
    assert result.label == OUT_OF_SCOPE
    assert model.predict(["refund my card please"])[0].probabilities["billing"] > 0.5


def test_unpacked_profanity_model_matches_the_package() -> None:
    from profanity_check import predict_prob

    texts = ["you are a fucking idiot", "where is my parcel", "this shit is broken", ""]
    for text in texts:
        assert predictors.profanity_probability(text) == pytest.approx(
            float(predict_prob([text])[0]), abs=1e-6
        )


def test_listed_swear_words_are_found_as_words_not_inside_others() -> None:
    assert predictors.listed_swear_words("what a shit day") == ["shit"]
    assert predictors.listed_swear_words("I sent my class assignment") == []
