"""Distills the static token embeddings used for ticket search (see search/encoders.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from concierge.search.encoders import build_static_embeddings, static_embeddings_path


class Command(BaseCommand):
    help = "Runs every vocabulary token through MiniLM once and stores the float16 matrix."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--output", default="", help=f"Default: {static_embeddings_path()}")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        path = build_static_embeddings(Path(options["output"]) if options["output"] else None)
        self.stdout.write(f"Wrote {path} in {time.perf_counter() - started:.0f} s")
