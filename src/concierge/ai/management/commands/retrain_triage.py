"""./concierge manage retrain_triage [--force] [--sentiment-data DIR]"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Retrain the triage intent model on agents' corrections; the new model is used only if "
        "it scores at least as well as the current one on the validation split. With "
        "--sentiment-data, train the sentiment model from a CSV folder (train.csv: text,label)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--force", action="store_true", help="promote without comparing")
        parser.add_argument(
            "--sentiment-data",
            type=Path,
            help="folder with train.csv (and optional val.csv) of text,label "
            "(negative/neutral/positive), e.g. ../shared/data/sentiment/airline",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from concierge.ai import actions, training
        from concierge.ai.models import SENTIMENT_LABELS

        if options["sentiment_data"]:
            folder: Path = options["sentiment_data"]
            train = _read(folder / "train.csv", SENTIMENT_LABELS)
            validation = _read(folder / "val.csv", SENTIMENT_LABELS)
            if not train[0]:
                raise CommandError(f"No usable rows in {folder / 'train.csv'}")
            if not validation[0]:  # no val.csv: every fifth row validates
                texts, labels = train
                validation = (texts[::5], labels[::5])
                keep = [i for i in range(len(texts)) if i % 5]
                train = ([texts[i] for i in keep], [labels[i] for i in keep])
            outcome = training.train_and_gate(
                "sentiment",
                train[0],
                train[1],
                validation[0],
                validation[1],
                force=options["force"],
                notes=f"trained on {folder.name}",
            )
        else:
            outcome = actions.retrain(actor=None, force=options["force"])
        self.stdout.write(json.dumps(outcome, default=str))


def _read(path: Path, allowed: tuple[str, ...]) -> tuple[list[str], list[str]]:
    if not path.exists():
        return [], []
    texts, labels = [], []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("label") in allowed and row.get("text"):
                texts.append(row["text"])
                labels.append(row["label"])
    return texts, labels
