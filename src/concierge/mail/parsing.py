"""Raw RFC 5322 bytes -> a structured message: headers, text, HTML, attachments.

Built on the standard library's ``email`` package (``BytesParser`` with
``policy.default``) and written to never raise on what real mail servers
deliver: every header is read through a fallback that decodes RFC 2047
words leniently, every text part through a charset cascade (declared,
then UTF-8, then Windows-1252 with replacement), and whatever was odd is
recorded in ``defects`` instead of aborting. A message that still cannot
be read at all becomes a quarantine item upstream, with the raw bytes kept.
"""

from __future__ import annotations

import binascii
import html as html_lib
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value, getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from concierge.core.sanitize import sanitize_html

MAX_DEPTH = 20  # nesting of multiparts / forwarded messages we follow
MAX_PARTS = 200  # leaves we look at; the rest is noted as a defect
HTML_MAX_CHARS = 500_000

# Charsets that mail clients declare under names Python does not know, or
# that are better read with a superset.
CHARSET_ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "x-sjis": "shift_jis",
    "windows-874": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "x-mac-roman": "mac_roman",
    "utf8": "utf-8",
    "latin1": "latin-1",
}
UNKNOWN_CHARSETS = {"unknown-8bit", "x-unknown", "default", "unknown", "x-user-defined"}

SIGNATURE_TYPES = {
    "application/pgp-signature",
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
}

_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


@dataclass(frozen=True)
class Address:
    name: str
    address: str

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str = ""
    is_inline: bool = False

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class ParsedMessage:
    message_id: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_address: str = ""
    from_name: str = ""
    reply_to: list[Address] = field(default_factory=list)
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    delivered_to: list[str] = field(default_factory=list)
    date: datetime | None = None
    headers: dict[str, list[str]] = field(default_factory=dict)
    text: str = ""
    html: str = ""
    text_from_html: bool = False
    attachments: list[ParsedAttachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    message: Message | None = field(default=None, repr=False)

    def header(self, name: str) -> str:
        """The first value of a header (decoded), or ""."""
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    @property
    def recipients(self) -> list[Address]:
        return [*self.to, *self.cc]


# --- headers -------------------------------------------------------------------


def _unsurrogate(value: str) -> str:
    """8-bit header bytes arrive as surrogate escapes: read them as UTF-8, else cp1252."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    return decode_bytes(data, None)[0]


def decode_words(value: str) -> str:
    """Decodes RFC 2047 encoded words leniently (unknown charsets, bad base64 ...)."""
    value = _unsurrogate(re.sub(r"\r?\n[ \t]+", " ", value)).strip()
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError, AssertionError, IndexError, HeaderParseError):
        pass

    def one(match: re.Match[str]) -> str:
        charset, encoding, text = match.groups()
        try:
            if encoding.lower() == "b":
                import base64

                data = base64.b64decode(text + "=" * (-len(text) % 4))
            else:
                import quopri

                data = quopri.decodestring(text.replace("_", " ").encode("ascii", "replace"))
        except ValueError:
            return match.group(0)
        return decode_bytes(data, charset.partition("*")[0])[0]

    # Whitespace between adjacent encoded words is not part of the text.
    value = re.sub(r"(\?=)\s+(=\?)", r"\1\2", value)
    return _ENCODED_WORD.sub(one, value)


def _raw_headers(message: Message, defects: list[str]) -> list[tuple[str, str]]:
    try:
        return [(str(name), str(value)) for name, value in message.raw_items()]
    except Exception as error:  # noqa: BLE001 - a broken header block must not stop us
        defects.append(f"header block unreadable: {type(error).__name__}")
        return []


_BARE_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def _is_address(address: str) -> bool:
    local, _, domain = address.strip().strip("<>").rpartition("@")
    return bool(local and domain)


def _addresses(values: list[str]) -> list[Address]:
    result: list[Address] = []
    seen: set[str] = set()
    for value in values:
        value = _unsurrogate(re.sub(r"\r?\n[ \t]+", " ", value))
        try:
            pairs = getaddresses([value])
        except (ValueError, IndexError, TypeError):
            pairs = []
        if not any(_is_address(address) for _, address in pairs):
            # "a@x.test b@x.test" and other unparseable lists: take the bare addresses.
            pairs = [("", address) for address in _BARE_ADDRESS.findall(value)]
        for name, address in pairs:
            address = address.strip().strip("<>").strip().lower()
            local, _, domain = address.rpartition("@")
            if not local or not domain or any(ch.isspace() for ch in address):
                continue
            if address in seen:
                continue
            seen.add(address)
            display_name = " ".join(decode_words(name).strip().strip('"').split())
            result.append(Address(name=display_name, address=address))
    return result


def message_ids(value: str) -> list[str]:
    """Message-IDs in a header value, without angle brackets, in order."""
    found = _MESSAGE_ID.findall(value)
    if not found:
        # Some clients (and broken gateways) drop the brackets.
        found = [token for token in value.split() if "@" in token]
    return [normalize_message_id(item) for item in found if normalize_message_id(item)]


def normalize_message_id(value: str) -> str:
    """A Message-ID as stored: brackets and whitespace removed, bounded in length."""
    value = value.strip().strip("<>").strip()
    value = "".join(value.split())
    if len(value) > 250:
        import hashlib

        value = "sha256-" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
    return value


# --- bodies --------------------------------------------------------------------


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str]:
    """Text of ``data`` and the charset that read it: declared, then UTF-8, then cp1252."""
    candidates: list[str] = []
    if charset:
        name = charset.strip().strip('"').lower()
        if name not in UNKNOWN_CHARSETS:
            candidates.append(CHARSET_ALIASES.get(name, name))
    candidates += ["utf-8", "cp1252"]
    for candidate in candidates:
        try:
            return data.decode(candidate), candidate
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("cp1252", errors="replace"), "cp1252 (with replacement)"


def _payload_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken transfer encodings fall back to the raw text
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _content_charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # noqa: BLE001
        return None


def _part_text(part: Message, defects: list[str]) -> str:
    charset = _content_charset(part)
    text, used = decode_bytes(_payload_bytes(part), charset)
    if charset and used != CHARSET_ALIASES.get(charset.lower(), charset.lower()):
        defects.append(f"text declared as {charset!r} was read as {used}")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _filename(part: Message) -> str:
    name: str | None = None
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        name = None
    if not name:
        try:
            value = part.get_param("name")
        except Exception:  # noqa: BLE001
            value = None
        if value:
            name = collapse_rfc2231_value(value) if isinstance(value, tuple) else str(value)
    if not name:
        return ""
    name = _unquoted_filename(part, str(name))
    return decode_words(name).strip().strip('"')


_UUENCODED = re.compile(
    r"^begin [0-7]{3,4} ([^\n]+)\n(.*?)^end[ \t]*$\n?", re.MULTILINE | re.DOTALL
)


def _split_uuencoded(text: str, defects: list[str]) -> tuple[str, list[ParsedAttachment]]:
    """Attachments that old clients (Outlook 2000, Eudora) uuencode inside the body text."""
    if "begin " not in text:
        return text, []
    attachments: list[ParsedAttachment] = []

    def extract(match: re.Match[str]) -> str:
        data = bytearray()
        for line in match.group(2).splitlines():
            if not line.strip() or line == "`":
                continue
            try:
                data += binascii.a2b_uu(line)
            except binascii.Error:
                # Some encoders pad lines short; decode what the length byte says.
                try:
                    length = ((ord(line[0]) - 32) & 63) * 4 // 3
                    data += binascii.a2b_uu(line[: length + 1])
                except (binascii.Error, IndexError):
                    defects.append("damaged uuencoded line skipped")
        name = match.group(1).strip()
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        attachments.append(
            ParsedAttachment(filename=name, content_type=content_type, content=bytes(data))
        )
        return ""

    return _UUENCODED.sub(extract, text), attachments


_UNQUOTED_FILENAME = re.compile(r"(?:file)?name\s*=\s*([^\";\r\n][^;\r\n]*)", re.IGNORECASE)


def _unquoted_filename(part: Message, parsed_name: str) -> str:
    """``filename=This is a test.txt`` (unquoted, with spaces): the parser keeps only "This"."""
    raw_values = [
        str(value)
        for name, value in part.raw_items()
        if name.lower() in ("content-disposition", "content-type")
    ]
    for value in raw_values:
        match = _UNQUOTED_FILENAME.search(value)
        if match:
            candidate = " ".join(match.group(1).split())
            if candidate.startswith(parsed_name) and len(candidate) > len(parsed_name):
                return candidate
    return parsed_name


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:  # noqa: BLE001
        return None


def _content_id(part: Message) -> str:
    value = part.get("Content-ID", "")
    try:
        return str(value).strip().strip("<>").strip()
    except Exception:  # noqa: BLE001
        return ""


def _default_name(content_type: str, index: int) -> str:
    extension = mimetypes.guess_extension(content_type) or ".bin"
    return f"attachment-{index}{extension}"


@dataclass
class _Collector:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    leaves: int = 0


def _walk(part: Message, out: _Collector, defects: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        defects.append("message nested too deeply; inner parts skipped")
        return
    out.leaves += 1
    if out.leaves > MAX_PARTS:
        if out.leaves == MAX_PARTS + 1:
            defects.append(f"more than {MAX_PARTS} MIME parts; the rest skipped")
        return
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        _forwarded(part, out, defects, depth)
        return
    if part.is_multipart():
        payload = part.get_payload()
        children = (
            [c for c in payload if isinstance(c, Message)] if isinstance(payload, list) else []
        )
        if part.get_content_subtype() == "alternative":
            versions = []
            for child in children:
                version = _Collector(leaves=out.leaves)
                _walk(child, version, defects, depth + 1)
                out.leaves = version.leaves
                versions.append(version)
            text_version = next((v for v in reversed(versions) if v.texts), None)
            html_version = next((v for v in reversed(versions) if v.htmls), None)
            if text_version:
                out.texts += text_version.texts
            if html_version:
                out.htmls += html_version.htmls
            for version in versions:
                out.attachments += version.attachments
            return
        for child in children:
            _walk(child, out, defects, depth + 1)
        return
    disposition = _disposition(part)
    filename = _filename(part)
    if content_type in SIGNATURE_TYPES and not filename:
        # The unnamed signature of a multipart/signed message is protocol
        # plumbing; a named one (smime.p7s) is shown by mail clients as a file.
        return
    if content_type in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        text = _part_text(part, defects)
        if content_type == "text/plain":
            text, uuencoded = _split_uuencoded(text, defects)
            out.attachments += uuencoded
            out.texts.append(text)
        else:
            out.htmls.append(text)
        return
    content = _payload_bytes(part)
    content_id = _content_id(part)
    out.attachments.append(
        ParsedAttachment(
            filename=filename or _default_name(content_type, len(out.attachments) + 1),
            content_type=content_type,
            content=content,
            content_id=content_id,
            is_inline=disposition == "inline" or (disposition is None and bool(content_id)),
        )
    )


def _forwarded(part: Message, out: _Collector, defects: list[str], depth: int) -> None:
    """A forwarded message: kept whole as an .eml attachment, its text shown inline."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        data = _payload_bytes(part)
        try:
            inner = BytesParser(policy=policy.default).parsebytes(data)
        except Exception:  # noqa: BLE001
            defects.append("forwarded message unreadable")
            return
    try:
        data = inner.as_bytes(policy=policy.SMTP.clone(max_line_length=None))
    except Exception:  # noqa: BLE001 - keep what we can of a malformed forward
        data = _payload_bytes(part)
    nested = _read(inner, depth + 1)
    defects += [f"forwarded: {defect}" for defect in nested.defects]
    subject = nested.subject or "forwarded message"
    safe_subject = re.sub(r"[^\w\- .]+", "", subject).strip()[:80] or "forwarded-message"
    out.attachments.append(
        ParsedAttachment(
            filename=_filename(part) or f"{safe_subject}.eml",
            content_type="message/rfc822",
            content=data,
        )
    )
    header_lines = [
        f"From: {Address(nested.from_name, nested.from_address) if nested.from_address else ''}",
        f"Date: {nested.header('date')}",
        f"Subject: {nested.subject}",
        f"To: {', '.join(str(a) for a in nested.to)}",
    ]
    out.texts.append(
        "---------- Forwarded message ----------\n" + "\n".join(header_lines) + "\n\n" + nested.text
    )
    out.attachments += [a for a in nested.attachments if a.content_id]


# --- HTML ----------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    """HTML to readable text: blocks become lines, blockquotes become '>' quotes."""

    PARAGRAPHS = {
        "p", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote",
        "section", "article", "header", "footer",
    }  # fmt: skip
    LINES = {"div", "tr", "li", "dt", "dd"}
    SKIP = {"script", "style", "head", "title", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.quote_depth = 0
        self.skip_depth = 0

    @staticmethod
    def _has_text(line: str) -> bool:
        return bool(line.strip(" >"))

    def _break(self, *, blank: bool) -> None:
        if self._has_text(self.lines[-1]):
            self.lines.append("")
        if blank and len(self.lines) > 1 and self._has_text(self.lines[-2]):
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip_depth += 1
        elif tag == "br":
            self.lines.append("")
        elif tag == "hr":
            self._break(blank=False)
            self.lines[-1] = "---"
            self.lines.append("")
        elif tag in self.PARAGRAPHS or tag in self.LINES:
            self._break(blank=tag in self.PARAGRAPHS)
            if tag == "blockquote":
                self.quote_depth += 1
            elif tag == "li":
                self.lines[-1] += "- "
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.handle_data(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in self.PARAGRAPHS or tag in self.LINES:
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            self._break(blank=tag in self.PARAGRAPHS)

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        text = re.sub(r"\s+", " ", data)
        current = self.lines[-1]
        if not text.strip() and not self._has_text(current):
            return
        if not current.strip() and self.quote_depth:
            current = "> " * self.quote_depth
        elif not current.strip():
            current = current.strip()
        if not self._has_text(current) and not current.endswith("- "):
            text = text.lstrip()
        self.lines[-1] = current + text

    def text(self) -> str:
        lines = [line.rstrip() for line in self.lines]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # noqa: BLE001 - HTMLParser is lenient, but never let it fail a message
        return re.sub(r"<[^>]+>", " ", html)
    return extractor.text()


_CID_SRC = re.compile(r"""(\bsrc\s*=\s*["']?)cid:([^"'\s>]+)""", re.IGNORECASE)
_IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""(\w[\w-]*)\s*=\s*"([^"]*)\"""")


def display_html(html: str, cid_urls: dict[str, str] | None = None) -> str:
    """Sanitized HTML to show: cid: images pointed at stored attachments, remote images off.

    Remote images are how senders track opens; they are replaced by their
    alt text so that opening a ticket loads nothing from the sender.
    """
    cid_urls = cid_urls or {}

    def point_cid(match: re.Match[str]) -> str:
        url = cid_urls.get(match.group(2)) or cid_urls.get(match.group(2).strip("<>"))
        return f"{match.group(1)}{url}" if url else f"{match.group(1)}#"

    cleaned = sanitize_html(_CID_SRC.sub(point_cid, html[:HTML_MAX_CHARS]))

    def drop_remote(match: re.Match[str]) -> str:
        attributes = dict(_ATTRIBUTE.findall(match.group(0)))
        source = html_lib.unescape(attributes.get("src", "")).strip().lower()
        if source.startswith(("http:", "https:", "//")) or source in ("", "#"):
            alt = attributes.get("alt", "")
            return f"[{alt}]" if alt else ""
        return match.group(0)

    return _IMG_TAG.sub(drop_remote, cleaned)


# --- the message -----------------------------------------------------------------


def _read_headers(parsed: ParsedMessage, message: Message) -> None:
    defects = parsed.defects
    headers: dict[str, list[str]] = {}
    raw_values: dict[str, list[str]] = {}
    for name, value in _raw_headers(message, defects):
        key = name.lower()
        raw_values.setdefault(key, []).append(value)
        headers.setdefault(key, []).append(decode_words(value))
    parsed.headers = headers
    parsed.subject = " ".join(headers.get("subject", [""])[0].split())
    senders = _addresses(raw_values.get("from", [])) or _addresses(raw_values.get("sender", []))
    if senders:
        parsed.from_address, parsed.from_name = senders[0].address, senders[0].name
    else:
        defects.append("no readable From address")
    parsed.reply_to = _addresses(raw_values.get("reply-to", []))
    parsed.to = _addresses(raw_values.get("to", []))
    parsed.cc = _addresses(raw_values.get("cc", []))
    for name in ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to"):
        parsed.delivered_to += [a.address for a in _addresses(raw_values.get(name, []))]
    ids = message_ids(headers.get("message-id", [""])[0])
    parsed.message_id = ids[0] if ids else ""
    parsed.in_reply_to = message_ids(" ".join(headers.get("in-reply-to", [])))
    parsed.references = message_ids(" ".join(headers.get("references", [])))
    if date_value := headers.get("date", [""])[0]:
        try:
            date = parsedate_to_datetime(date_value)
            parsed.date = date if date.tzinfo else date.replace(tzinfo=UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            defects.append("unreadable Date header")


def _read(message: Message, depth: int = 0) -> ParsedMessage:
    parsed = ParsedMessage(message=message)
    for defect in getattr(message, "defects", []) or []:
        parsed.defects.append(type(defect).__name__)
    _read_headers(parsed, message)
    defects = parsed.defects
    collector = _Collector()
    try:
        _walk(message, collector, defects, depth)
    except RecursionError:
        defects.append("message structure too deep")
    parsed.text = "\n\n".join(text.strip("\n") for text in collector.texts if text.strip())
    parsed.html = "\n<hr>\n".join(collector.htmls)
    if not parsed.text and parsed.html:
        parsed.text = html_to_text(parsed.html)
        parsed.text_from_html = True
    parsed.attachments = collector.attachments
    return parsed


_HEADER_LINE = re.compile(rb"^(?:[!-9;-~]+[ \t]*:|[ \t])")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _drop_invalid_header_lines(raw: bytes) -> tuple[bytes, int]:
    """Removes lines in the header block that are neither a field nor a continuation.

    Python's parser ends the header block at the first such line and reads
    every header after it as body text; mail clients skip the line instead.
    """
    end = _HEADER_END.search(raw)
    if end is None:
        return raw, 0
    lines = raw[: end.start()].splitlines(keepends=True)
    kept = [line for line in lines if _HEADER_LINE.match(line)]
    if len(kept) == len(lines) or not kept:
        return raw, 0
    return b"".join(kept).rstrip(b"\r\n") + raw[end.start() :], len(lines) - len(kept)


def parse_message(raw: bytes) -> ParsedMessage:
    """Parses raw RFC 5322 bytes; never raises on malformed input (see ``defects``)."""
    cleaned, dropped = _drop_invalid_header_lines(raw)
    parsed = _read(BytesParser(policy=policy.default).parsebytes(cleaned))
    if dropped:
        parsed.defects.append(f"{dropped} malformed header line(s) skipped")
    return parsed


def parse_headers_only(raw: bytes) -> ParsedMessage:
    """The header fields of a message, without walking its body (cheap, for receiving)."""
    message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    parsed = ParsedMessage(message=message)
    _read_headers(parsed, message)
    return parsed
