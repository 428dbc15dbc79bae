"""Runs the built-in SMTP or LMTP receiver a mail server delivers to.

./concierge manage mail_smtpd --host 127.0.0.1 --port 2525
./concierge manage mail_smtpd --lmtp --port 2424
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from concierge.mail.smtp_server import make_controller


class Command(BaseCommand):
    help = "Receive mail over SMTP or LMTP (aiosmtpd) for the active mailboxes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2525)
        parser.add_argument("--lmtp", action="store_true", help="Speak LMTP instead of SMTP.")

    def handle(self, *args: Any, **options: Any) -> None:
        controller = make_controller(
            host=options["host"], port=options["port"], lmtp=options["lmtp"]
        )
        stop = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        controller.start()
        protocol = "LMTP" if options["lmtp"] else "SMTP"
        self.stdout.write(f"{protocol} receiver on {options['host']}:{options['port']}")
        try:
            while not stop.wait(1.0):
                pass
        finally:
            controller.stop()
