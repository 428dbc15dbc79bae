"""Real mail servers on loopback for the tests: Dovecot (IMAP) and an aiosmtpd sink (SMTP).

Dovecot runs from a generated configuration with a throwaway maildir store
under a temporary folder, plaintext authentication on loopback and a
passwd-file of test accounts (each test takes a fresh account, so tests
never see each other's mail). Without Dovecot installed the tests that need
it are skipped with a clear message, except under CI=true, where they fail:
``./concierge test`` installs Debian's ``dovecot-imapd``.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from imapclient import IMAPClient

DOVECOT_PATHS = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
ACCOUNTS = 200
PASSWORD = "imap-test-password"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dovecot_binary() -> str | None:
    found = shutil.which("dovecot")
    if found:
        return found
    return next((path for path in DOVECOT_PATHS if os.path.exists(path)), None)


def require_dovecot() -> str:
    binary = dovecot_binary()
    if binary is None:
        message = (
            "Dovecot is not installed (Debian package dovecot-imapd); "
            "`./concierge test` installs it, or run: apt-get install dovecot-imapd"
        )
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true: {message}")
        pytest.skip(message)
    return binary


@dataclass
class Dovecot:
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"
    _accounts: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def new_account(self) -> str:
        number = next(self._accounts)
        if number > ACCOUNTS:
            raise RuntimeError("out of Dovecot test accounts")
        return f"box{number}"

    def client(self, user: str) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(user, PASSWORD)
        return client

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            client.append(folder, raw)
        finally:
            client.logout()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def start_dovecot() -> Dovecot:
    binary = require_dovecot()
    root = Path(tempfile.mkdtemp(prefix="concierge-dovecot-"))
    root.chmod(0o755)  # the mail user (not root) must reach the store below
    mail_dir, run_dir, state_dir = root / "mail", root / "run", root / "state"
    for folder in (mail_dir, run_dir, state_dir):
        folder.mkdir()
    me = pwd.getpwuid(os.getuid())
    if os.getuid() == 0:
        # Dovecot refuses to access mail as root: store it as "nobody".
        mail_user = pwd.getpwnam("nobody")
        os.chown(mail_dir, mail_user.pw_uid, mail_user.pw_gid)
        user_ids = f"uid={mail_user.pw_uid} gid={mail_user.pw_gid}"
        internal = ""
    else:
        user_ids = f"uid={me.pw_uid} gid={me.pw_gid}"
        internal = (
            f"default_internal_user = {me.pw_name}\n"
            f"default_internal_group = {me.pw_name}\n"
            f"default_login_user = {me.pw_name}\n"
        )
    (root / "passwd").write_text(
        "".join(f"box{n}:{{PLAIN}}{PASSWORD}::::::\n" for n in range(1, ACCOUNTS + 1))
    )
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(
        f"""
base_dir = {run_dir}
state_dir = {state_dir}
log_path = {root}/dovecot.log
{internal}protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{mail_dir}/%u
first_valid_uid = 1
mail_max_userip_connections = 100
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = {user_ids} home={mail_dir}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""
    )
    process = subprocess.Popen(  # noqa: S603 - our own binary and config
        [binary, "-F", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot exited: {error}\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return Dovecot(root=root, port=port, process=process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("dovecot did not start listening within 15 s")


# --- SMTP sink -------------------------------------------------------------------------


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SinkHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failures: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.failures:
            return self.failures.pop(0)
        self.received.append(
            Received(
                sender=envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
                raw=envelope.original_content or envelope.content,
            )
        )
        return "250 2.0.0 OK"


@dataclass
class SmtpSink:
    controller: Controller
    handler: SinkHandler
    port: int

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def fail_next(self, *statuses: str) -> None:
        """The next messages are answered with these statuses instead of being accepted."""
        self.handler.failures.extend(statuses)

    def reset(self) -> None:
        self.handler.received.clear()
        self.handler.failures.clear()

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received


def start_smtp_sink() -> SmtpSink:
    handler = SinkHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    return SmtpSink(controller=controller, handler=handler, port=port)


def wait_until(condition: Any, timeout: float = 15, interval: float = 0.05) -> Any:
    """Polls ``condition()`` until it returns something truthy; fails after ``timeout`` seconds."""
    from django.db import OperationalError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OperationalError:
            # SQLite's shared in-memory test database reports "table is locked"
            # while the watcher thread writes; PostgreSQL never does.
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
