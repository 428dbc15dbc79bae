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
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Do nothing when the file exists (what ./concierge demo and serve run).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output = Path(options["output"]) if options["output"] else static_embeddings_path()
        if options["if_missing"] and output.exists():
            self.stdout.write(f"Static embeddings: {output} is there.")
            return
        self.stdout.write("Distilling static embeddings for ticket search (once; 1-4 minutes) ...")
        started = time.perf_counter()
        path = build_static_embeddings(output)
        self.stdout.write(f"Wrote {path} in {time.perf_counter() - started:.0f} s")
