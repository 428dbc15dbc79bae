"""Small labelled sentiment samples shared by the triage tests (airline-style tweets)."""

SENTIMENT_SAMPLES = {
    "negative": [
        "my flight was cancelled and nobody helps",
        "lost my bag again, worst airline ever",
        "delayed three hours with no explanation",
        "rude staff at the gate, never again",
    ],
    "positive": [
        "thanks for the upgrade, great crew",
        "love the new seats, amazing service",
        "the pilot was wonderful, thank you",
        "great flight, landed early",
    ],
    "neutral": [
        "what time does boarding start",
        "is there wifi on the flight to Boston",
        "can I change my seat online",
        "which terminal do you leave from",
    ],
}
