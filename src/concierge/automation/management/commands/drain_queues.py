"""Assigns waiting tickets in every team with an assignment strategy (the periodic sweep).

Events (a new ticket, an agent coming online, a solved ticket) drain the
queues as they happen; run this from cron every few minutes to catch what an
event missed (a worker restart, a capacity raised in the Django admin).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from concierge.automation import assignment
from concierge.automation.models import AssignmentStrategy, TeamRouting


class Command(BaseCommand):
    help = "Assign waiting tickets to free agents in every team with an assignment strategy."

    def handle(self, *args: Any, **options: Any) -> None:
        routed = TeamRouting.objects.exclude(strategy=AssignmentStrategy.MANUAL).select_related(
            "team"
        )
        for routing in routed:
            assigned = assignment.drain_team_queue(routing.team_id)
            self.stdout.write(f"{routing.team.name}: {assigned} assigned")
