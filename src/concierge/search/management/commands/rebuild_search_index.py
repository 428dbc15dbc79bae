"""Rebuilds the search index from its sources, in batches."""

from __future__ import annotations

import os
import time
from typing import Any

from django.core.management.base import BaseCommand

from concierge.search import actions, registry


class Command(BaseCommand):
    help = "Re-indexes every article, ticket and customer (or the kinds given)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "kinds", nargs="*", help=f"Kinds: {', '.join(registry.registered_kinds())}"
        )
        parser.add_argument("--batch-size", type=int, default=actions.BATCH_SIZE)
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 1,
            help="Processes that load, encode and write batches (default: one per core).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        kinds = options["kinds"] or registry.registered_kinds()
        unknown = sorted(set(kinds) - set(registry.registered_kinds()))
        if unknown:
            self.stderr.write(f"Unknown kinds: {', '.join(unknown)}")
            return
        for kind in kinds:
            started = time.perf_counter()
            counts = actions.rebuild(
                kinds=[kind], batch_size=options["batch_size"], workers=options["workers"]
            )
            elapsed = time.perf_counter() - started
            self.stdout.write(f"{kind}: {counts.get(kind, 0)} indexed in {elapsed:.1f} s")
