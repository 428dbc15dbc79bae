"""`manage load_demo`: fills an empty desk with three months of realistic history.

Run by `./concierge demo`. A second run finds the data and keeps it;
`--reset` removes the demo rows and loads them again.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from concierge.demo import generator
from concierge.demo.chat import ensure_demo_chat_channel
from concierge.demo.knowledge import (
    HELP_CENTER_DAYS,
    ensure_demo_article_flags,
    ensure_demo_following,
    ensure_demo_help_center,
    ensure_demo_help_center_activity,
)
from concierge.demo.routing import (
    ensure_demo_escalation_example,
    ensure_demo_routing,
    ensure_demo_triage,
)


class Command(BaseCommand):
    help = "Loads deterministic demo data (agents, customers, tickets) and prints the sign-ins."

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = generator.Scale()
        parser.add_argument("--tickets", type=int, default=defaults.tickets)
        parser.add_argument("--customers", type=int, default=defaults.customers)
        parser.add_argument("--organizations", type=int, default=defaults.organizations)
        parser.add_argument("--days", type=int, default=defaults.days, help="History length.")
        parser.add_argument("--seed", type=int, default=generator.SEED)
        parser.add_argument(
            "--help-center-days",
            type=int,
            default=HELP_CENTER_DAYS,
            help="Days of help center visits to record for its reports (each visit goes "
            "through the real actions: fewer days load faster).",
        )
        parser.add_argument(
            "--reset", action="store_true", help="Remove the demo data first, then load it again."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["reset"] and generator.is_loaded():
            generator.reset()
            self.stdout.write("Removed the previous demo data.")
        if generator.is_loaded():
            self.stdout.write("Demo data is already loaded; keeping it (use --reset to reload).")
        else:
            started = time.monotonic()
            scale = generator.Scale(
                tickets=max(0, options["tickets"]),
                customers=max(1, options["customers"]),
                organizations=max(1, options["organizations"]),
                days=max(1, options["days"]),
            )
            summary = generator.load(scale=scale, seed=options["seed"], progress=self.stdout.write)
            self.stdout.write(
                f"Loaded {summary.tickets:,} tickets, {summary.entries:,} entries, "
                f"{summary.customers:,} customers, {summary.staff} staff, {summary.teams} teams "
                f"in {time.monotonic() - started:.1f} s (text from the {summary.corpus} corpus)."
            )
        self.stdout.write(sign_in_box(settings.SITE_URL))
        self.stdout.write(ensure_demo_chat_channel(settings.SITE_URL))
        self.stdout.write(ensure_demo_routing())
        self.stdout.write(ensure_demo_triage())
        self.stdout.write(ensure_demo_escalation_example())
        self.stdout.write(ensure_demo_help_center())
        self.stdout.write(ensure_search_index())
        self.stdout.write(
            ensure_demo_help_center_activity(days=max(1, options["help_center_days"]))
        )
        self.stdout.write(ensure_demo_article_flags())
        self.stdout.write(ensure_demo_following())


def ensure_search_index() -> str:
    """Indexes the demo's tickets and customers for search (rows were bulk-created)."""
    from concierge.search.actions import rebuild
    from concierge.search.models import SearchDocument

    if SearchDocument.objects.filter(kind="ticket").exists():
        return "Search index: already built."
    started = time.monotonic()
    counts = rebuild(kinds=["ticket", "customer"])
    return (
        f"Search index: {counts.get('ticket', 0):,} tickets and "
        f"{counts.get('customer', 0):,} customers in {time.monotonic() - started:.1f} s."
    )


def sign_in_box(site_url: str) -> str:
    """The framed block of URLs and demo sign-ins printed after every run."""
    lines = [
        "Concierge demo",
        "",
        f"  Workspace   {site_url}/",
        f"  Portal      {site_url}/portal/",
        "",
        f"  Admin       {generator.ADMIN_EMAIL}",
        f"  Agent       {generator.AGENT_EMAIL}",
        f"  Light agent {generator.LIGHT_AGENT_EMAIL}",
        f"  Customer    {generator.CUSTOMER_EMAIL}  (portal)",
        "",
        f"  Password    {generator.DEMO_PASSWORD}   (same for every demo account)",
    ]
    width = max(len(line) for line in lines) + 2
    framed = ["+" + "-" * width + "+"]
    framed += [f"| {line.ljust(width - 2)} |" for line in lines]
    framed.append("+" + "-" * width + "+")
    return "\n" + "\n".join(framed)
