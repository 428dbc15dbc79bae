"""Mail that no one should answer automatically: auto-replies, lists, bounces, spam.

* RFC 3834: ``Auto-Submitted`` other than ``no`` means a machine sent it;
  ``Precedence: bulk/list/junk``, ``X-Autoreply`` / ``X-Autorespond``, list
  headers (``List-Id``, ``List-Unsubscribe``) and mailer-daemon / no-reply
  senders mean the same in practice. Such messages still become entries (a
  vacation reply can matter to an agent) but are flagged ``is_automated`` and
  ``may_auto_reply`` answers False for them, so no acknowledgement is ever
  sent back — the classic cause of mail loops.
* RFC 3464: delivery status notifications (``multipart/report;
  report-type=delivery-status``) are read for the original Message-ID, the
  recipient, the action, status code and diagnostic, and marked on the
  outgoing entry instead of opening tickets.
* Spam verdicts from the receiving server (``X-Spam-Flag``, ``X-Spam-Status``,
  ``X-Spam-Score``) compared with the mailbox's threshold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from concierge.mail.parsing import ParsedMessage, decode_bytes, message_ids

AUTOMATED_LOCAL_PARTS = re.compile(
    r"^(?:mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|"
    r"noreply-[\w.-]+|[\w.-]*-noreply|notifications?-noreply)$",
    re.IGNORECASE,
)
BOUNCE_SUBJECT = re.compile(
    r"(undeliver|delivery status notification|delivery failure|failure notice|"
    r"returned mail|mail delivery failed|delivery has failed|non-?delivery)",
    re.IGNORECASE,
)
_SPAM_SCORE = re.compile(r"(?:score|hits)\s*=\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclass(frozen=True)
class AutomationVerdict:
    is_automated: bool
    reasons: tuple[str, ...] = ()


def automation_verdict(parsed: ParsedMessage) -> AutomationVerdict:
    """Whether a machine sent this message, and which headers say so."""
    reasons: list[str] = []
    auto_submitted = parsed.header("auto-submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        reasons.append(f"Auto-Submitted: {auto_submitted}")
    precedence = parsed.header("precedence").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        reasons.append(f"Precedence: {precedence}")
    for name in ("x-autoreply", "x-autorespond"):
        if value := parsed.header(name).strip():
            reasons.append(f"{name}: {value}")
    for name in ("list-id", "list-unsubscribe"):
        if parsed.header(name):
            reasons.append(f"{name} present")
    local_part = parsed.from_address.partition("@")[0]
    if local_part and AUTOMATED_LOCAL_PARTS.match(local_part):
        reasons.append(f"sender {parsed.from_address}")
    if is_delivery_report(parsed):
        reasons.append("delivery status notification")
    return AutomationVerdict(is_automated=bool(reasons), reasons=tuple(reasons))


def may_auto_reply(message: Any) -> bool:
    """False when nothing automatic (acknowledgement, notification) may answer ``message``.

    Takes a ``ParsedMessage``, an ``InboundMessage`` (parsed from its raw) or
    an ``Entry`` created from mail (its ``metadata["is_automated"]``).
    """
    if isinstance(message, ParsedMessage):
        return not automation_verdict(message).is_automated
    metadata = getattr(message, "metadata", None)
    if isinstance(metadata, dict):
        return not metadata.get("is_automated", False)
    raw_field = getattr(message, "raw", None)
    if raw_field is not None:
        from concierge.mail.parsing import parse_headers_only

        with raw_field.open("rb") as handle:
            return not automation_verdict(parse_headers_only(handle.read())).is_automated
    return False


# --- spam ----------------------------------------------------------------------


@dataclass(frozen=True)
class SpamVerdict:
    is_spam: bool
    score: float | None
    reason: str = ""


def spam_verdict(parsed: ParsedMessage, *, threshold: float) -> SpamVerdict:
    """The receiving server's spam verdict, judged against the mailbox threshold."""
    score: float | None = None
    raw_score = parsed.header("x-spam-score").strip()
    if raw_score:
        try:
            score = float(raw_score.split()[0])
        except (ValueError, IndexError):
            score = None
    status = parsed.header("x-spam-status")
    if score is None and status and (match := _SPAM_SCORE.search(status)):
        score = float(match.group(1))
    if score is not None and score >= threshold:
        return SpamVerdict(True, score, f"spam score {score} >= {threshold}")
    if parsed.header("x-spam-flag").strip().lower() == "yes":
        return SpamVerdict(True, score, "X-Spam-Flag: YES")
    if status.strip().lower().startswith("yes") and score is None:
        return SpamVerdict(True, score, "X-Spam-Status: Yes")
    return SpamVerdict(False, score)


# --- delivery status notifications (RFC 3464) --------------------------------------


@dataclass
class DeliveryReport:
    original_message_ids: list[str] = field(default_factory=list)
    recipients: list[dict[str, str]] = field(default_factory=list)

    @property
    def has_failed(self) -> bool:
        return any(r.get("action", "failed") == "failed" for r in self.recipients) or (
            not self.recipients
        )

    def summary(self) -> dict[str, Any]:
        first = self.recipients[0] if self.recipients else {}
        return {
            "action": first.get("action", "failed"),
            "status": first.get("status", ""),
            "recipient": first.get("recipient", ""),
            "diagnostic": first.get("diagnostic", "")[:1000],
            "recipients": self.recipients[:20],
        }


def is_delivery_report(parsed: ParsedMessage) -> bool:
    message = parsed.message
    if message is not None:
        if message.get_content_type() == "multipart/report":
            report_type = str(message.get_param("report-type") or "").lower()
            if report_type in ("delivery-status", ""):
                return True
    local_part = parsed.from_address.partition("@")[0].lower()
    return local_part in ("mailer-daemon", "postmaster") and bool(
        BOUNCE_SUBJECT.search(parsed.subject)
    )


def _fields(text: str) -> list[dict[str, str]]:
    """Blocks of "Name: value" fields separated by blank lines (message/delivery-status)."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, ""
            continue
        if line[0] in " \t" and last:
            current[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep:
            last = name.strip().lower()
            current[last] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return decode_bytes(payload, None)[0]
    raw = part.get_payload()
    if isinstance(raw, list):
        # message/delivery-status parsed as a list of header blocks
        return "\n\n".join(str(item) for item in raw)
    return str(raw or "")


def _strip_type(value: str) -> str:
    """ "rfc822; bob@example.com" -> "bob@example.com"."""
    return value.partition(";")[2].strip() if ";" in value else value.strip()


def parse_delivery_report(parsed: ParsedMessage) -> DeliveryReport:
    """Reads a bounce: the Message-ID it refers to and what happened per recipient."""
    report = DeliveryReport()
    message = parsed.message
    if message is None:
        return report
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type in ("message/delivery-status", "message/global-delivery-status"):
            for block in _fields(_part_text(part))[1:] or _fields(_part_text(part)):
                if "final-recipient" not in block and "action" not in block:
                    continue
                report.recipients.append(
                    {
                        "recipient": _strip_type(
                            block.get("final-recipient", block.get("original-recipient", ""))
                        ),
                        "action": block.get("action", "").lower(),
                        "status": block.get("status", ""),
                        "diagnostic": _strip_type(block.get("diagnostic-code", "")),
                    }
                )
        elif content_type in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                report.original_message_ids += message_ids(str(inner.get("Message-ID", "")))
        elif content_type in ("text/rfc822-headers", "message/rfc822-headers"):
            for block in _fields(_part_text(part))[:1]:
                report.original_message_ids += message_ids(block.get("message-id", ""))
    if not report.original_message_ids:
        # Non-standard bounces quote the original headers in the body text.
        for match in re.finditer(r"^\s*Message-ID:\s*(\S+)", parsed.text, re.I | re.M):
            report.original_message_ids += message_ids(match.group(1))
    return report
