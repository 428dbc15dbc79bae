"""./concierge manage import_help_center {zendesk|helpscout} (--folder DIR | --url URL ...)

Examples::

    # Zendesk Guide, live (the API token is read from an environment variable):
    ZENDESK_API_TOKEN=... ./concierge manage import_help_center zendesk \\
        --url https://acme.zendesk.com --email admin@acme.com
    # Help Scout Docs, live:
    HELPSCOUT_API_KEY=... ./concierge manage import_help_center helpscout
    # Either, from API answers saved as JSON files in a folder:
    ./concierge manage import_help_center zendesk --folder ./zendesk-export --dry-run
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Import a help center from Zendesk Guide or Help Scout Docs: categories, sections, "
        "articles with their translations, tags and who may read them. Running it again "
        "updates what it imported; old addresses redirect to the new pages."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("source", choices=["zendesk", "helpscout"])
        parser.add_argument("--folder", help="JSON files saved from the source's API")
        parser.add_argument(
            "--url",
            help="Zendesk: https://<subdomain>.zendesk.com; Help Scout: the Docs API address "
            "(default https://docsapi.helpscout.net)",
        )
        parser.add_argument("--email", help="Zendesk: the agent the API token belongs to")
        parser.add_argument(
            "--token-env",
            help="environment variable holding the API token (Zendesk, default "
            "ZENDESK_API_TOKEN) or key (Help Scout, default HELPSCOUT_API_KEY); never a "
            "command-line argument, so it stays out of shell history",
        )
        parser.add_argument(
            "--as", dest="actor", help="email of the admin the import is made as (default: "
            "the first active admin)",
        )  # fmt: skip
        parser.add_argument(
            "--dry-run", action="store_true", help="read and check everything, write nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from concierge.accounts.models import Role, User
        from concierge.core.errors import ConciergeError
        from concierge.knowledge import imports

        admins = User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk")
        actor = (
            admins.filter(email__iexact=options["actor"]).first()
            if options["actor"]
            else admins.first()
        )
        if actor is None:
            raise CommandError("No such active admin: give --as with an admin's email.")
        try:
            source = _source(options, imports)
            zendesk = options["source"] == "zendesk"
            run = imports.import_zendesk if zendesk else imports.import_helpscout
            # -v 2 prints how far it got, article by article.
            progress = self.stdout.write if options["verbosity"] >= 2 else None
            report = run(actor=actor, source=source, dry_run=options["dry_run"], progress=progress)
        except ConciergeError as error:
            raise CommandError(error.message) from error
        for line in report.lines():
            self.stdout.write(line)


def _source(options: dict[str, Any], imports: Any) -> Any:
    if options["folder"]:
        return imports.FolderSource(options["folder"])
    zendesk = options["source"] == "zendesk"
    variable = options["token_env"] or ("ZENDESK_API_TOKEN" if zendesk else "HELPSCOUT_API_KEY")
    secret = os.environ.get(variable, "")
    if not secret:
        raise CommandError(f"Give --folder, or set {variable} to the API token.")
    if zendesk:
        if not options["url"] or not options["email"]:
            raise CommandError("Zendesk needs --url https://<subdomain>.zendesk.com and --email.")
        return imports.ZendeskApi(options["url"], options["email"], secret)
    return imports.HelpScoutApi(secret, options["url"] or "https://docsapi.helpscout.net")
