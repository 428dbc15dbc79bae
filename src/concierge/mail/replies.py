"""Separating the new text of a reply from the quoted history and the signature.

Each line is classified — empty (``e``), quoted with ``>`` (``m``), a
splitter that introduces quoted history (``s``: "On <date>, <name> wrote:",
"-----Original Message-----", an Outlook "From: / Sent: / To:" block), the
start of a forwarded message (``f``) or plain text (``t``) — and regular
expressions over that string of markers find the quotation, the way
mailgun's talon does it:

* a splitter or two quoted lines, up to the last quoted line, followed only
  by text is quoted history, and the text after it (a sign-off) is kept;
* a splitter followed by no quoted lines cuts everything below it (Outlook
  and most webmails quote without ``>``);
* text between quoted blocks is an inline answer: nothing is cut;
* below a forwarded-message marker nothing is cut: forwarded mail is new
  content for the support team.

When the cut would leave nothing, the whole text is kept: losing what a
customer wrote is worse than showing a quote. The full original is always
stored next to the extracted reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "On <date>, <name> wrote:" in the languages mail clients are localized to.
_ON = r"on|am|le|el|il|op|em|den|dne|dňa|w dniu|pe|la|på|op|στις|в|dana|ngày|tanggal|pada"
_WROTE = (
    r"wrote|writes|schrieb|schreef|a écrit|a ecrit|escribió|escribio|ha scritto|escreveu|"
    r"skrev|kirjoitti|napisał\(a\)|napisała|napisał|napisal|napsal|írta|yazdı|написал\(а\)|"
    r"написала|написал|έγραψε|pisze|skriver|geschreven|scrisse|a scris|写道|寫道|작성"
)
ON_DATE_WROTE = re.compile(
    rf"^[\s>\-]*(?:{_ON})\b.{{0,300}}?(?:{_WROTE})(?:\b|\s|$).{{0,200}}?(?:[:：]|-{{2,}})?\s*-*\s*$",
    re.IGNORECASE,
)
ENDS_WITH_WROTE = re.compile(rf"^[\s\-]*\S.{{0,300}}(?:{_WROTE})\s*[:：]\s*-*\s*$", re.IGNORECASE)
# "2014-10-17 11:28 GMT+03:00 Name <name@example.com>:" (Gmail in some locales, Android).
DATE_EMAIL = re.compile(r"^[\s\-]*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b.{0,250}@.{0,250}[:：]\s*$")
ORIGINAL_MESSAGE = re.compile(
    r"^[\s>]*-{2,}\s*(?:original message|original|ursprüngliche nachricht|"
    r"message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht|"
    r"originalmeddelande|original meddelelse|opprinnelig melding|alkuperäinen viesti|"
    r"oryginalna wiadomość|исходное сообщение|původní zpráva|eredeti üzenet|"
    r"mensagem original|reply message)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FROM_WORDS = (
    r"from|de|von|van|da|fra|från|od|от|lähettäjä|feladó|kimden|mittente|remitente|"
    r"expéditeur|afzender|absender|nadawca|差出人|发件人|寄件者|보낸 사람"
)
_FIELD_WORDS = (
    r"sent|date|to|subject|cc|envoyé|à|a|objet|gesendet|datum|an|betreff|verzonden|aan|"
    r"onderwerp|inviato|data|oggetto|enviado|enviada|fecha|para|asunto|assunto|sendt|til|emne|"
    r"skickat|till|ämne|wysłano|do|temat|отправлено|кому|тема|дата|lähetetty|"
    r"vastaanottaja|aihe|päivämäärä|elküldve|címzett|tárgy|gönderildi|kime|konu|"
    r"送信日時|宛先|件名|发送时间|收件人|主题|日期|보낸 날짜|받는 사람|제목"
)
FROM_FIELD = re.compile(rf"^[\s>*]*(?:{_FROM_WORDS})\s*\*?\s*[:：]", re.IGNORECASE)
HEADER_FIELD = re.compile(rf"^[\s>*]*(?:{_FIELD_WORDS})\s*\*?\s*[:：]", re.IGNORECASE)
FORWARDED = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|message transféré|"
    r"mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|videresendt meddelelse|"
    r"vidarebefordrat meddelande)\s*-{2,}|begin forwarded message:|"
    r"anfang der weitergeleiteten nachricht:|début du message réexpédié\s*:)\s*$",
    re.IGNORECASE,
)
QUOTED = re.compile(r"^\s*>")
SEPARATOR_LINE = re.compile(r"^[\s\-_=*]+$")
SIGNATURE_SEPARATOR = re.compile(r"^--\s?$")
MOBILE_SIGNATURE = re.compile(
    r"^(?:sent from my|sent from|sent with|sent via|sent using|get outlook for|"
    r"envoyé de mon|envoyé depuis|von meinem|gesendet von|enviado desde|enviado do meu|"
    r"inviato da|verzonden met|skickat från|lähetetty)\s[^,;:]{1,60}$",
    re.IGNORECASE,
)

RE_INLINE_REPLY = re.compile(r"me*t[te]*m")
RE_QUOTATION = re.compile(r"((?:s+e*|(?:me*){2,}).*me*)[te]*$")
RE_EMPTY_QUOTATION = re.compile(r"(?:s+|(?:me*){2,})")
HEADER_BLOCK_LOOKAHEAD = 5
SPLITTER_MAX_LINES = 3


@dataclass(frozen=True)
class ReplyParts:
    reply: str  # the new text, signature included: what the ticket shows
    quoted: str  # the quoted history cut from it
    signature: str  # the trailing signature inside ``reply``, "" when none found

    @property
    def body_without_signature(self) -> str:
        if self.signature and self.reply.endswith(self.signature):
            return self.reply[: -len(self.signature)].rstrip()
        return self.reply


def _splitter_length(lines: list[str], index: int) -> int:
    """How many lines starting at ``index`` form a quotation splitter (0 when none)."""
    line = lines[index]
    if ORIGINAL_MESSAGE.match(line):
        return 1
    if FROM_FIELD.match(line) and _is_header_block(lines, index):
        return 1
    if ENDS_WITH_WROTE.match(line) and any(ch.isdigit() or ch == "@" for ch in line):
        return 1
    joined = ""
    for count in range(1, SPLITTER_MAX_LINES + 1):
        if index + count > len(lines) or not lines[index + count - 1].strip():
            break
        joined = f"{joined} {lines[index + count - 1].strip()}".strip()
        has_digit = any(ch.isdigit() for ch in joined)
        if has_digit and (ON_DATE_WROTE.match(joined) or DATE_EMAIL.match(joined)):
            return count
    return 0


def _is_header_block(lines: list[str], index: int) -> bool:
    """A From line followed closely by another header field (Sent, To, Subject ...)."""
    for line in lines[index + 1 : index + 1 + HEADER_BLOCK_LOOKAHEAD]:
        if HEADER_FIELD.match(line):
            return True
    return False


def _closes_wrapped_link(lines: list[str], index: int) -> bool:
    """A ">" that closes a "<http://..." wrapped from the line above is not a quote marker."""
    previous = lines[index - 1] if index else ""
    return previous.count("<") > previous.count(">")


def _markers(lines: list[str]) -> str:
    markers: list[str] = []
    index = 0
    forwarded = False
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            markers.append("e")
        elif forwarded:
            markers.append("t")
        elif FORWARDED.match(line):
            markers.append("f")
            forwarded = True
        elif QUOTED.match(line) and not _closes_wrapped_link(lines, index):
            markers.append("m")
        elif count := _splitter_length(lines, index):
            markers += ["s"] * count
            index += count
            continue
        else:
            markers.append("t")
        index += 1
    return "".join(markers)


def _trim(lines: list[str]) -> list[str]:
    """Drops trailing empty lines and separator rules left above a cut quote."""
    while lines and (not lines[-1].strip() or SEPARATOR_LINE.match(lines[-1])):
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    return lines


def _signature(lines: list[str]) -> str:
    """The signature at the end of the reply: after a "-- " line, or a "Sent from my ..." line."""
    for index in range(len(lines) - 1, max(-1, len(lines) - 16), -1):
        if SIGNATURE_SEPARATOR.match(lines[index]):
            return "\n".join(lines[index:])
    if lines and MOBILE_SIGNATURE.match(lines[-1].strip()):
        return lines[-1]
    return ""


def extract_reply(text: str) -> ReplyParts:
    """Splits an email body into the new reply, its signature and the quoted history."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = [line.rstrip() if line.strip() != "--" else line for line in lines]
    markers = _markers(lines)
    kept, cut = lines, []
    if not RE_INLINE_REPLY.search(markers):
        if quotation := RE_QUOTATION.search(markers):
            start, end = quotation.span(1)
            kept, cut = lines[:start] + lines[end:], lines[start:end]
        elif quotation := RE_EMPTY_QUOTATION.search(markers):
            kept, cut = lines[: quotation.start()], lines[quotation.start() :]
    kept = _trim(kept)
    if not any(line.strip() for line in kept):
        kept, cut = _trim(lines), []
    return ReplyParts(
        reply="\n".join(kept), quoted="\n".join(_trim(cut)), signature=_signature(kept)
    )


_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~])")
_BLOCK_START = re.compile(r"^(\s*)([#>+=\-]|\d+[.)])")


def _escape_block_start(match: re.Match[str]) -> str:
    marker = match.group(2)
    if marker[0].isdigit():  # "1." starts a list: escape the dot, not the digit
        return f"{match.group(1)}{marker[:-1]}\\{marker[-1]}"
    return f"{match.group(1)}\\{marker}"


def as_markdown_text(text: str) -> str:
    """Escapes ``text`` so that markdown renders it as the same plain text."""
    escaped_lines = []
    for line in text.split("\n"):
        line = _INLINE_SPECIAL.sub(r"\\\1", line)
        line = _BLOCK_START.sub(_escape_block_start, line)
        escaped_lines.append(line)
    return "\n".join(escaped_lines)
