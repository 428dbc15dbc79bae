"""Bringing a help center over from Zendesk Guide or Help Scout Docs.

The importer reads what those products' APIs answer, either saved as JSON
files in a folder or fetched with the admin's own API credentials (sent to the
address the admin gives and nowhere else; a live import also copies the
articles' images: Zendesk's from that address, Help Scout's from its public
file host, see ``fetch_public_image``), and writes everything
through the knowledge actions, so each article gets its first version, its
sanitized HTML and its search entry exactly as if it were written here. HTML
bodies become markdown (markdownify), which editors can then change. Running
the import again updates what it brought the first time (``imported_from``)
instead of making copies; an unchanged article gets no new version.

Who may read an article is never wider than in the source:

* Zendesk Guide: no user segment -> Everyone; the built-in "signed-in users"
  segment -> Signed-in customers; segments narrowed to organizations only ->
  Chosen organizations, those organizations here with the same name (an
  organization with no namesake here is left out and reported: its customers
  lose the article rather than anyone else gaining it); "staff", or any
  segment narrowed to tags, groups or named users -> Agents only (Concierge
  cannot narrow that way, so those are held back from customers and listed
  in the report for an admin to decide).
* Help Scout Docs: a public collection's articles -> Everyone; a private
  collection's -> Agents only.

Old addresses keep working: ``/hc/<locale>/articles/<id>-...`` (and sections,
categories: Zendesk) and ``/article/<number>-...`` (and ``/category/``,
``/collection/``: Help Scout) redirect to the imported page
(``portal.help_views.imported_address``), and links between imported
articles are rewritten to those addresses.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import logging
import mimetypes
import re
import socket
import ssl
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlencode, urljoin, urlsplit
from urllib.request import (
    HTTPRedirectHandler,
    HTTPSHandler,
    ProxyHandler,
    Request,
    build_opener,
    urlopen,
)

from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from markdownify import markdownify

from concierge.core import policy
from concierge.core.errors import ConciergeError, Conflict, ValidationFailed
from concierge.core.events import enqueue_after_commit
from concierge.knowledge import actions
from concierge.knowledge.locales import normalize_locale
from concierge.knowledge.models import (
    Article,
    ArticleStatus,
    Category,
    HelpCenterImport,
    ImportStatus,
    Section,
    Visibility,
)

logger = logging.getLogger(__name__)

SOURCES = ("zendesk", "helpscout")
# A folder export or an API answer larger than this is refused, not half-read.
MAX_FILE_BYTES = 50 * 1024 * 1024
# An uploaded ZIP archive: at most this many JSON files, this much JSON unpacked.
MAX_ARCHIVE_FILES = 20_000
MAX_ARCHIVE_BYTES = 500 * 1024 * 1024
# Images an export may hold beside its JSON, copied to the articles that show them.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
MAX_PAGES = 2_000  # of one API list: a runaway "next page" chain stops here
FETCH_TIMEOUT_SECONDS = 30

# Links between a source's articles, rewritten to the redirecting address.
ZENDESK_ARTICLE_LINK = re.compile(
    r"(?:https?://[^/\s\"')]+)?/hc/([A-Za-z-]+)/articles/(\d+)[^\s\"')]*"
)
HELPSCOUT_ARTICLE_LINK = re.compile(r"(?:https?://[^/\s\"')]+)?/article/(\d+)[^\s\"')]*")


class ImportFailed(ConciergeError):
    """The export or the API answer cannot be read (while reading, before anything is
    written)."""

    code = "import_failed"
    status = 400


@dataclass
class ImportReport:
    source: str
    dry_run: bool = False
    categories: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0})
    sections: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0})
    articles: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0})
    translations: int = 0
    held_back: list[str] = field(default_factory=list)  # titles made agents-only
    # Zendesk organizations named by segments that have no namesake here.
    unmatched_organizations: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what could not be imported, and why
    external_images: int = 0  # images left on another address (the pages' CSP blocks them)
    files: int = 0  # images and files copied here (live Zendesk imports)
    files_checked: bool = True  # False: a check of a live source, which downloads no file

    def lines(self) -> list[str]:
        verb = "Would import" if self.dry_run else "Imported"
        rows = [
            f"{verb} from {self.source}: "
            f"{self._pair(self.categories)} categories, {self._pair(self.sections)} sections, "
            f"{self._pair(self.articles)} articles, {self.translations} translations, "
            + (f"{self.files} files." if self.files_checked else "files: copied by the import."),
        ]
        if self.held_back:
            rows.append(
                f"{len(self.held_back)} article(s) restricted to some customers in the source "
                "are agents-only here until an admin decides: " + "; ".join(self.held_back[:20])
            )
        if self.unmatched_organizations:
            rows.append(
                f"{len(self.unmatched_organizations)} organization(s) that articles are for in "
                "the source have no organization of the same name here; their customers cannot "
                "read those articles until you add it and import again: "
                + "; ".join(self.unmatched_organizations[:20])
            )
        if self.external_images:
            rows.append(
                f"{self.external_images} image(s) are still on another address, which help "
                "center pages do not load images from (their security policy): upload them to "
                "the articles, add them to the export at their old path, or import live (which "
                "copies them)."
            )
        rows.extend(f"Skipped: {reason}" for reason in self.skipped)
        return rows

    @staticmethod
    def _pair(counts: dict[str, int]) -> str:
        return f"{counts['created']} new / {counts['updated']} updated"


# --- reading: a folder of saved answers, or the API itself ------------------------------------


def _records(payload: Any, key: str) -> list[dict[str, Any]]:
    """The records under ``key``: Zendesk answers a plain list, Help Scout a page
    (``{"items": [...]}``) or one object (``{"article": {...}}``)."""
    value = payload.get(key) if isinstance(payload, dict) else None
    if isinstance(value, dict):
        value = value["items"] if isinstance(value.get("items"), list) else [value]
    return [item for item in value or [] if isinstance(item, dict)]


class _SavedAnswers:
    """API answers saved as JSON files, any names, any number of pages: each
    file's top-level keys say what it holds ("articles", "sections",
    "collections"...). Image files saved beside them (at their path on the old
    help center, say ``hc/article_attachments/9/invoice.png``) are copied to the
    articles that show them, as a live import does."""

    def __init__(self) -> None:
        self._payloads: list[Any] = []
        self._images: dict[str, Callable[[], bytes]] = {}  # path in the export -> its reader

    @property
    def has_files(self) -> bool:
        return bool(self._images)

    def _add(self, name: str, data: bytes) -> None:
        if len(data) > MAX_FILE_BYTES:
            raise ImportFailed(f"{name} is over {MAX_FILE_BYTES // 1024 // 1024} MB.")
        try:
            self._payloads.append(json.loads(data.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ImportFailed(f"{name} is not JSON: {error}") from error

    def _add_image(self, path: str, read: Callable[[], bytes]) -> None:
        if len(self._images) >= MAX_ARCHIVE_FILES:
            raise ImportFailed(f"The export holds over {MAX_ARCHIVE_FILES} images.")
        self._images[path.strip("/")] = read

    def collect(self, *keys: str) -> list[dict[str, Any]]:
        return [
            record
            for payload in self._payloads
            for key in keys
            for record in _records(payload, key)
        ]

    def article_files(
        self, article_id: Any, texts: dict[str, dict[str, str]]
    ) -> Iterator[tuple[dict[str, Any], bytes | None]]:
        """The images the article shows that the export holds too; the others stay
        where they are (and are counted as such)."""
        urls = {url for text in texts.values() for url in MARKDOWN_IMAGE.findall(text["body"])}
        for url in sorted(urls):
            found = self._image_at(unquote(urlsplit(url).path).strip("/"))
            if found is not None:
                yield {"file_name": Path(found).name, "content_url": url}, self._images[found]()

    def _image_at(self, path: str) -> str | None:
        """The export's file for an image address's path: the same path, under any
        top folder, or else the one file of that name (a name two files share
        matches neither: the wrong picture is worse than a missing one)."""
        if not path:
            return None
        if path in self._images:
            return path
        for candidates in (
            [key for key in self._images if key.endswith("/" + path)],
            [key for key in self._images if Path(key).name == Path(path).name],
        ):
            if len(candidates) == 1:
                return candidates[0]
            if candidates:
                return None
        return None


class FolderSource(_SavedAnswers):
    """The JSON files of a folder (and its subfolders)."""

    def __init__(self, folder: str | Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ImportFailed(f"No such folder: {self.folder}")
        for path in sorted(self.folder.rglob("*.json")):
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ImportFailed(f"{path.name} is over {MAX_FILE_BYTES // 1024 // 1024} MB.")
            self._add(path.name, path.read_bytes())
        for path in sorted(self.folder.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                relative = path.relative_to(self.folder).as_posix()
                self._add_image(relative, partial(_read_file, path))
        if not self._payloads:
            raise ImportFailed(f"No .json file in {self.folder}.")


class ArchiveSource(_SavedAnswers):
    """An uploaded export: one JSON file, or a ZIP archive of them (the folder,
    zipped). Read in memory and never unpacked to disk, so names inside the
    archive ("../../etc") mean nothing; sizes are checked on what is actually
    read, not on what the archive claims (a ZIP bomb stops at the limit)."""

    def __init__(self, name: str, stream: IO[bytes]) -> None:
        super().__init__()
        head = stream.read(4)
        stream.seek(0)
        if head.startswith(b"PK"):
            self._read_zip(name, stream)
        else:
            self._add(name, stream.read(MAX_FILE_BYTES + 1))
        if not self._payloads:
            raise ImportFailed(f"No .json file in {name}.")

    def _read_zip(self, name: str, stream: IO[bytes]) -> None:
        try:
            archive = zipfile.ZipFile(stream)
        except zipfile.BadZipFile as error:
            raise ImportFailed(f"{name} is not a ZIP archive that can be read: {error}") from error
        files = [
            entry
            for entry in archive.infolist()
            if not entry.is_dir() and not entry.filename.startswith("__MACOSX/")  # Finder's forks
        ]
        entries = [entry for entry in files if entry.filename.lower().endswith(".json")]
        for entry in files:
            if Path(entry.filename).suffix.lower() in IMAGE_SUFFIXES:
                # Read when an article needs it: the upload stays open while the import runs.
                self._add_image(entry.filename, partial(_read_member, archive, entry, name))
        if len(entries) > MAX_ARCHIVE_FILES:
            raise ImportFailed(f"{name} holds over {MAX_ARCHIVE_FILES} JSON files.")
        total = 0
        for entry in sorted(entries, key=lambda entry: entry.filename):
            try:
                with archive.open(entry) as member:
                    data = member.read(MAX_FILE_BYTES + 1)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as error:
                # RuntimeError: encrypted; NotImplementedError: an unknown compression.
                raise ImportFailed(f"{entry.filename} in {name} cannot be read: {error}") from error
            total += len(data)
            if total > MAX_ARCHIVE_BYTES:
                raise ImportFailed(
                    f"{name} unpacks to over {MAX_ARCHIVE_BYTES // 1024 // 1024} MB of JSON."
                )
            self._add(entry.filename, data)


def _read_bounded(stream: IO[bytes]) -> bytes:
    with stream:
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ImportFailed(f"A file of the export is over {MAX_FILE_BYTES // 1024 // 1024} MB.")
    return data


def _read_file(path: Path) -> bytes:
    return _read_bounded(path.open("rb"))


def _read_member(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, name: str) -> bytes:
    try:
        return _read_bounded(archive.open(entry))
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as error:
        raise ImportFailed(f"{entry.filename} in {name} cannot be read: {error}") from error


def _check_address(url: str) -> str:
    """HTTPS only, except to this machine (a test server, a tunnel): credentials
    never travel in clear text."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValidationFailed(
            "Give the help center's https:// address.", field_errors={"url": ["HTTPS only."]}
        )
    return url.rstrip("/")


class ApiSource:
    """Pages through a Zendesk or Help Scout Docs API with the admin's credentials."""

    def __init__(self, base_url: str, authorization: str) -> None:
        self.base_url = _check_address(base_url)
        self.authorization = authorization
        self.requests = 0  # answers read so far
        self.on_read: Callable[[int], None] | None = None  # told each time (progress)

    def is_own(self, url: str) -> bool:
        """Whether ``url`` is on the API's own address (the only one given credentials)."""
        return url == self.base_url or url.startswith(self.base_url + "/")

    def read(self, path_or_url: str, params: dict[str, Any] | None = None) -> bytes:
        url = path_or_url if "://" in path_or_url else urljoin(self.base_url + "/", path_or_url)
        if not self.is_own(url):
            raise ImportFailed(f"The API pointed outside {self.base_url}: {url}")
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        request = Request(  # noqa: S310 - the admin's own https address (or loopback), checked above
            url, headers={"Authorization": self.authorization, "Accept": "application/json"}
        )
        try:
            with urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
                body: bytes = response.read(MAX_FILE_BYTES + 1)
        except OSError as error:  # URLError, HTTPError, timeouts
            raise ImportFailed(f"Could not read {url}: {error}") from error
        if len(body) > MAX_FILE_BYTES:
            raise ImportFailed(f"The answer of {url} is over {MAX_FILE_BYTES // 1024 // 1024} MB.")
        self.requests += 1
        if self.on_read is not None:
            self.on_read(self.requests)
        return body

    def get(self, path_or_url: str, params: dict[str, Any] | None = None) -> Any:
        body = self.read(path_or_url, params)
        try:
            return json.loads(body)
        except json.JSONDecodeError as error:
            raise ImportFailed(f"{path_or_url} did not answer JSON.") from error


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class ZendeskApi:
    """Zendesk Guide's Help Center API (``{email}/token:{api token}``, read as an agent)."""

    def __init__(self, base_url: str, email: str, token: str) -> None:
        self.api = ApiSource(base_url, _basic(f"{email}/token", token))
        self._lists: dict[str, list[dict[str, Any]]] = {}

    def _pages(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        url: str | None = path
        for _ in range(MAX_PAGES):
            if url is None:
                return
            payload = self.api.get(url)
            yield from _records(payload, key)
            # Offset pagination answers "next_page"; cursor pagination "links"/"meta".
            url = payload.get("next_page") or (
                (payload.get("links") or {}).get("next")
                if (payload.get("meta") or {}).get("has_more")
                else None
            )

    def collect(self, *keys: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for key in keys:
            if key not in self._lists:
                if key == "translations":  # one list per article
                    self._lists[key] = [
                        record
                        for article in self.collect("articles")
                        for record in self._pages(
                            f"api/v2/help_center/articles/{article['id']}/translations.json",
                            "translations",
                        )
                    ]
                elif key == "organizations":  # the Support API's (segments name them by id)
                    self._lists[key] = list(self._pages("api/v2/organizations.json", key))
                else:
                    self._lists[key] = list(self._pages(f"api/v2/help_center/{key}.json", key))
            found.extend(self._lists[key])
        return found

    def article_files(
        self, article_id: Any, texts: dict[str, dict[str, str]]
    ) -> Iterator[tuple[dict[str, Any], bytes | None]]:
        """Each file of an article (its attachments list) with its content; None where
        Zendesk serves it from another address (credentials never go there)."""
        path = f"api/v2/help_center/articles/{article_id}/attachments.json"
        for record in self._pages(path, "article_attachments"):
            url = str(record.get("content_url") or "")
            yield record, self.api.read(url) if url and self.api.is_own(url) else None


class HelpScoutApi:
    """Help Scout's Docs API (the API key as the user name, any password)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://docsapi.helpscout.net",
        fetch_image: Callable[[str], bytes | None] | None = None,
    ) -> None:
        self.api = ApiSource(base_url, _basic(api_key, "X"))
        self._collections: list[dict[str, Any]] | None = None
        self.fetch_image = fetch_image or fetch_public_image

    def article_files(
        self, article_id: Any, texts: dict[str, dict[str, str]]
    ) -> Iterator[tuple[dict[str, Any], bytes | None]]:
        """The images an article shows: Help Scout keeps them on its public file host,
        so they are fetched from there without credentials (fetch_public_image)."""
        urls = {url for text in texts.values() for url in MARKDOWN_IMAGE.findall(text["body"])}
        for url in sorted(urls):
            name = Path(urlsplit(url).path).name or "image"
            yield {"file_name": name, "content_url": url}, self.fetch_image(url)

    def _pages(self, path: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        page, pages = 1, 1
        while page <= min(pages, MAX_PAGES):
            payload = self.api.get(path, {**params, "page": page})
            yield from _records(payload, key)
            pages = int(((payload or {}).get(key) or {}).get("pages") or 1)
            page += 1

    def collect(self, *keys: str) -> list[dict[str, Any]]:
        if self._collections is None:
            self._collections = list(self._pages("v1/collections", "collections"))
        found: list[dict[str, Any]] = []
        for key in keys:
            if key == "collections":
                found.extend(self._collections)
            for collection in self._collections if key in ("categories", "articles") else []:
                path = f"v1/collections/{collection['id']}/{key}"
                if key == "categories":
                    found.extend(self._pages(path, "categories"))
                    continue
                # The list holds references; each article's text is its own answer.
                for reference in self._pages(path, "articles", status="all"):
                    found.extend(
                        _records(self.api.get(f"v1/articles/{reference['id']}"), "article")
                    )
        return found


class _NoRedirects(HTTPRedirectHandler):
    """A redirect could lead to an address the checks refused: none is followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address.is_global


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the address that was checked, not to whatever the name resolves to a
    moment later (DNS rebinding); TLS still verifies the certificate for the name."""

    pinned_address = ""

    def connect(self) -> None:
        sock = socket.create_connection((self.pinned_address, self.port or 443), self.timeout)
        self.sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPSHandler(HTTPSHandler):
    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def https_open(self, req: Any) -> Any:
        def connection(host: str, /, **kwargs: Any) -> http.client.HTTPConnection:
            made = _PinnedHTTPSConnection(host, **kwargs)
            made.pinned_address = self.address
            return made

        return self.do_open(connection, req)


def fetch_public_image(
    url: str, *, address_allowed: Callable[[Any], bool] = _public
) -> bytes | None:
    """An image a live import found in an article, fetched without credentials; None
    when it cannot or may not be: HTTPS only, from public addresses only (never this
    machine or a private network, which an article's text must not make the server
    reach) and connecting to the very address checked, no proxy, no redirects, image
    content only, at most MAX_FILE_BYTES."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    try:
        found = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
        addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    except (OSError, ValueError):
        return None
    if not addresses or not all(address_allowed(address) for address in addresses):
        return None
    opener = build_opener(ProxyHandler({}), _NoRedirects, _PinnedHTTPSHandler(str(addresses[0])))
    try:
        request = Request(url, headers={"Accept": "image/*"})  # noqa: S310 - https, checked
        with opener.open(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            if not response.headers.get_content_type().startswith("image/"):
                return None
            body: bytes = response.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    return body if len(body) <= MAX_FILE_BYTES else None


# --- converting ---------------------------------------------------------------------------------


def html_to_markdown(html: str) -> str:
    """An HTML body as markdown: ATX headings, "-" bullets, no stray blank runs."""
    text = markdownify(html or "", heading_style="ATX", bullets="-", strip=["script", "style"])
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _locale(value: Any, default: str) -> str:
    return normalize_locale(str(value or "")) or default


MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\((https?://[^)\s]+)")


def _external_images(markdown: str) -> int:
    return len(MARKDOWN_IMAGE.findall(markdown))


# Told what a run is doing ("120 of 400 articles imported"), for the import page.
Progress = Callable[[str], None]

# An article's files, by the source's article id and its texts: (record, content or None).
FileFetcher = Callable[
    [Any, dict[str, dict[str, str]]], Iterable[tuple[dict[str, Any], bytes | None]]
]


@dataclass
class _Article:
    """One source article with its texts by locale, ready to write."""

    key: str
    section_key: str
    source_locale: str
    texts: dict[str, dict[str, str]]  # locale -> {"title", "body", "description"}
    published: bool
    visibility: str
    position: int = 0
    promoted: bool = False
    organization_ids: list[int] = field(default_factory=list)  # for Chosen organizations
    tags: list[str] = field(default_factory=list)
    source_id: Any = None  # the id the source's API knows it by
    # Readers' history the source kept (votes, views): carried over once, when the
    # article is created, so "least helpful" and "popular" do not start from zero.
    history: dict[str, int] = field(default_factory=dict)


class _Writer:
    """Writes parsed categories, sections and articles through the actions."""

    def __init__(
        self,
        actor: Any,
        report: ImportReport,
        source: Any = None,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
        articles: int = 0,
    ) -> None:
        self.actor = actor
        self.report = report
        self.progress = progress
        self.articles = articles  # how many the run will write, for the progress line
        self.done = 0
        # A live source that can hand over an article's files (ZendeskApi.article_files);
        # a check does not download them (it would store files its rollback forgets).
        self.files: FileFetcher | None = getattr(source, "article_files", None)
        if not getattr(source, "has_files", True):  # a saved export without images
            self.files = None
        if self.files is not None and dry_run:
            self.files = None
            report.files_checked = False
        self.categories: dict[str, Category] = {}
        self.sections: dict[str, Section] = {}

    def _save(self, key: str, existing: Any, saved: Any, counts: dict[str, int]) -> None:
        """Marks a new object with its source key; counts it as new or updated."""
        if existing is None:
            type(saved).objects.filter(pk=saved.pk).update(imported_from=key)
        counts["updated" if existing else "created"] += 1

    def category(self, key: str, name: str, description: str, position: int) -> None:
        existing = Category.objects.filter(imported_from=key).first()
        changes = {"name": _name(name), "description": _description(description)}
        category = actions.save_category(
            actor=self.actor, category=existing, changes={**changes, "position": position}
        )
        self._save(key, existing, category, self.report.categories)
        self.categories[key] = category

    def section(
        self, key: str, category_key: str, name: str, description: str, position: int = 0
    ) -> None:
        category = self.categories.get(category_key)
        if category is None:
            self.report.skipped.append(f"section '{name}': its category is not in the export")
            return
        existing = Section.objects.filter(imported_from=key).first()
        changes = {"name": _name(name), "description": _description(description)}
        section = actions.save_section(
            actor=self.actor,
            section=existing,
            changes={**changes, "category_id": category.pk, "position": position},
        )
        self._save(key, existing, section, self.report.sections)
        self.sections[key] = section

    def article(self, item: _Article) -> None:
        self._article(item)
        self.done += 1
        if self.progress is not None:
            verb = "checked" if self.report.dry_run else "imported"
            self.progress(f"{self.done} of {self.articles} articles {verb}")

    def _article(self, item: _Article) -> None:
        section = self.sections.get(item.section_key)
        first_locale = next(iter(item.texts), "")
        first_title = item.texts[first_locale]["title"] if first_locale else "?"
        if section is None or not first_locale:
            self.report.skipped.append(f"article '{first_title}': its section is not in the export")
            return
        # The source locale's text first; an export without it starts from another one.
        source_locale = item.source_locale if item.source_locale in item.texts else first_locale
        fields = {
            "section_id": section.pk,
            "status": ArticleStatus.PUBLISHED if item.published else ArticleStatus.DRAFT,
            "visibility": item.visibility,
            **(
                {"organization_ids": item.organization_ids}
                if item.visibility == Visibility.ORGANIZATIONS
                else {}
            ),
            "position": item.position,
            "is_promoted": item.promoted,
            "tags": item.tags,
        }
        existing = Article.objects.filter(imported_from=item.key).first()
        texts = item.texts
        # Downloaded before the article's transaction: a slow file host never holds
        # the database (SQLite has one writer at a time).
        fetched = self._fetch_files(self.files, item, first_title) if self.files else None
        try:
            with transaction.atomic():
                if existing is not None and fetched is not None:
                    # Files an earlier run brought: the texts point at them before writing,
                    # so an unchanged article gets no new version.
                    texts = self._move_files(existing, item, fetched)
                if existing is None:
                    article = actions.create_article(
                        actor=self.actor,
                        changes={**fields, **texts[source_locale], "locale": source_locale},
                    )
                else:
                    article = actions.update_article(
                        actor=self.actor, article=existing,
                        changes={**fields, **texts[source_locale]}, locale=source_locale,
                    )  # fmt: skip
                for locale, text in texts.items():
                    if locale != source_locale:
                        actions.update_article(
                            actor=self.actor, article=article, changes=dict(text), locale=locale
                        )
                if existing is None and fetched is not None:
                    # A new article: its files can only be stored once it exists; the
                    # imported text stays in the history and the moved images follow it.
                    texts = self._move_files(article, item, fetched)
                    for locale, text in texts.items():
                        if text["body"] != item.texts[locale]["body"]:
                            actions.update_article(
                                actor=self.actor, article=article,
                                changes={"body": text["body"]}, locale=locale,
                            )  # fmt: skip
        except ConciergeError as error:  # one bad article (over a limit, no body) is reported
            self.report.skipped.append(f"article '{first_title}': {error.message}")
            return
        self._save(item.key, existing, article, self.report.articles)
        if existing is None and item.history:
            Article.objects.filter(pk=article.pk).update(**item.history)
        self.report.translations += len(texts) - 1
        self.report.external_images += sum(
            _external_images(text["body"]) for text in texts.values()
        )

    def _fetch_files(
        self, files: FileFetcher, item: _Article, title: str
    ) -> list[tuple[dict[str, Any], bytes | None]]:
        """The article's files with their contents; none when the source cannot hand
        them over (the article is still imported, its images left where they are)."""
        try:
            return list(files(item.source_id, item.texts))
        except ImportFailed as error:
            self.report.skipped.append(f"the files of '{title}': {error.message}")
            return []

    def _move_files(
        self,
        article: Article,
        item: _Article,
        files: list[tuple[dict[str, Any], bytes | None]],
    ) -> dict[str, dict[str, str]]:
        """Copies the article's files here (those an earlier run brought are kept) and
        returns its texts pointing at them."""
        from django.urls import reverse

        from concierge.tickets.actions import NewAttachment

        kept = {(a.filename, a.size): a for a in article.attachments.all()}
        addresses: dict[str, str] = {}
        for record, content in files:
            name, url = str(record.get("file_name") or "file"), str(record.get("content_url"))
            content_type = str(record.get("content_type") or mimetypes.guess_type(name)[0] or "")
            if content is None:
                continue  # served from elsewhere: counted with the external images
            stored = kept.get((name, len(content)))  # brought by an earlier run
            if stored is None:
                try:
                    new = NewAttachment(name, content, content_type)
                    (stored,) = actions.add_attachments(
                        actor=self.actor, article=article, attachments=[new]
                    )
                except ConciergeError as error:  # over the size limit, an executable...
                    title = next(iter(item.texts.values()))["title"]
                    self.report.skipped.append(f"file '{name}' of '{title}': {error.message}")
                    continue
                self.report.files += 1
            own = reverse(
                "portal:help_file", kwargs={"file_id": stored.pk, "filename": stored.filename}
            )
            addresses[urlsplit(url).path] = own
        # By path, on any host: a body names its images relative to the help center, on
        # its own domain (support.acme.com) or on the API's (acme.zendesk.com).
        pattern = re.compile(
            r"\]\((?:https?://[^/\s)]+)?("
            + "|".join(re.escape(path) for path in addresses)
            + r")(?=[\s)])"
        )
        texts = {}
        for locale, text in item.texts.items():
            body = text["body"]
            if addresses:
                body = pattern.sub(lambda match: f"]({addresses[match.group(1)]}", body)
            texts[locale] = {**text, "body": body}
        return texts


# --- Zendesk Guide ------------------------------------------------------------------------------


@contextmanager
def _writing(dry_run: bool) -> Iterator[None]:
    """A check writes everything in one transaction and rolls it back: the same
    rules as the import, nothing kept. An import commits item by item (each
    article in its own transaction), so a large import never holds the database
    for its whole run (SQLite lets one writer in at a time: the help desk would
    wait), and a run stopped midway keeps what it wrote: importing again
    updates it and carries on."""
    if not dry_run:
        yield
        return
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def _zendesk_visibility(
    article: dict[str, Any],
    segments: dict[Any, dict[str, Any]],
    organizations: Callable[[list[Any]], list[int] | None] = lambda ids: None,
) -> tuple[str, list[int]]:
    """The widest audience the article's segments allow, never wider than the source,
    and for Chosen organizations the organizations here (``organizations`` maps a
    segment's Zendesk organization ids to ours; None: none of them is here)."""
    ids = article.get("user_segment_ids") or (
        [article["user_segment_id"]] if article.get("user_segment_id") is not None else []
    )
    if not ids:
        return Visibility.PUBLIC, []
    audiences = []
    chosen: set[int] = set()
    for segment_id in ids:
        segment = segments.get(segment_id) or {}
        narrowed = any(
            segment.get(key) for key in ("tags", "or_tags", "group_ids", "added_user_ids")
        )
        signed_in = segment.get("user_type") == "signed_in_users" and not narrowed
        if signed_in and not segment.get("organization_ids"):
            audiences.append(Visibility.SIGNED_IN)
        elif signed_in and (found := organizations(list(segment["organization_ids"]))):
            audiences.append(Visibility.ORGANIZATIONS)
            chosen.update(found)
        else:  # staff, narrowed, unknown or unmatched segments: agents only
            audiences.append(Visibility.INTERNAL)
    # An article in several segments reads for anyone in any of them: the widest wins.
    for visibility in (Visibility.SIGNED_IN, Visibility.ORGANIZATIONS):
        if visibility in audiences:
            return visibility, sorted(chosen) if visibility == Visibility.ORGANIZATIONS else []
    return Visibility.INTERNAL, []


class _OrganizationsByName:
    """Zendesk organization ids -> the organizations here of the same name.

    Zendesk's segments name organizations by id; the names come from the
    Support API's organization list (``organizations`` in an export), read
    only when a segment names one. A name is matched ignoring case; one with
    no namesake here is reported once.
    """

    def __init__(self, source: Any, report: ImportReport) -> None:
        self.source = source
        self.report = report
        self._names: dict[Any, str] | None = None
        self._here: dict[str, int] | None = None

    def __call__(self, zendesk_ids: list[Any]) -> list[int] | None:
        if self._names is None:
            try:
                records = self.source.collect("organizations")
            except ImportFailed as error:  # a token that cannot read organizations
                self.report.skipped.append(f"organizations: {error.message}")
                records = []
            self._names = {r.get("id"): str(r.get("name") or "") for r in records}
            from concierge.customers.models import Organization

            self._here = {
                name.casefold(): pk for pk, name in Organization.objects.values_list("pk", "name")
            }
        found = []
        for zendesk_id in zendesk_ids:
            name = self._names.get(zendesk_id, "")
            pk = (self._here or {}).get(name.casefold()) if name else None
            if pk is not None:
                found.append(pk)
                continue
            missing = name or f"organization {zendesk_id} (not in the export)"
            if missing not in self.report.unmatched_organizations:
                self.report.unmatched_organizations.append(missing)
        return found or None


def _zendesk_votes(article: dict[str, Any]) -> dict[str, int]:
    """Zendesk keeps votes as a count and a sum of +1 / -1: the helpful and unhelpful ones."""
    count, total = int(article.get("vote_count") or 0), int(article.get("vote_sum") or 0)
    if count <= 0 or abs(total) > count:
        return {}
    return {"helpful_count": (count + total) // 2, "unhelpful_count": (count - total) // 2}


def _by_id(records: Iterable[dict[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
    grouped: dict[Any, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("id") is not None:
            grouped.setdefault(record["id"], []).append(record)
    return grouped


def _source_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The record in the item's own locale (a list fetched per locale repeats items)."""
    return next(
        (r for r in records if r.get("locale") and r.get("locale") == r.get("source_locale")),
        records[0],
    )


def import_zendesk(
    *, actor: Any, source: Any, dry_run: bool = False, progress: Progress | None = None
) -> ImportReport:
    """Categories, sections (nested ones flattened into their category), articles with
    their translations, labels as tags, promoted and draft state, from Zendesk Guide."""
    policy.require(policy.can_manage_help_center(actor), "Only admins import a help center.")
    report = ImportReport(source="Zendesk Guide", dry_run=dry_run)
    categories = _by_id(source.collect("categories"))
    sections = _by_id(source.collect("sections"))
    articles = _by_id(source.collect("articles"))
    if not articles and not categories:
        raise ImportFailed("The export holds no Zendesk categories or articles.")
    segments = {s.get("id"): s for s in source.collect("user_segments")}
    organizations = _OrganizationsByName(source, report)
    translations: dict[Any, list[dict[str, Any]]] = {}
    for translation in source.collect("translations"):
        if translation.get("source_type", "Article") == "Article":
            translations.setdefault(translation.get("source_id"), []).append(translation)
    default = _default_locale()
    article_ids = {str(article_id) for article_id in articles}

    def locale_of(value: Any) -> str:
        return _help_center_locale(_locale(value, default), default)

    def text(record: dict[str, Any]) -> dict[str, str]:
        body = ZENDESK_ARTICLE_LINK.sub(
            lambda m: (
                f"/hc/{m.group(1)}/articles/{m.group(2)}"
                if m.group(2) in article_ids
                else m.group(0)
            ),
            html_to_markdown(str(record.get("body") or "")),
        )
        return {"title": str(record.get("title") or record.get("name") or "").strip(), "body": body}

    parsed: list[_Article] = []
    for article_id, records in articles.items():
        main = _source_record(records)
        texts: dict[str, dict[str, str]] = {}
        drafts: dict[str, bool] = {}
        for record in [*records, *translations.get(article_id, []), *main.get("translations", [])]:
            locale = locale_of(record.get("locale"))
            if locale not in texts or record.get("locale") == main.get("locale"):
                texts[locale] = text(record)
                drafts[locale] = bool(record.get("draft"))
        source_locale = locale_of(main.get("source_locale") or main.get("locale"))
        # A translation still in draft in Zendesk is not published there: it stays behind
        # (a Concierge article's languages share its one published state).
        for locale in [loc for loc, draft in drafts.items() if draft and loc != source_locale]:
            report.skipped.append(
                f"the {locale} translation of '{texts[locale]['title']}': a draft in Zendesk"
            )
            del texts[locale]
        visibility, organization_ids = _zendesk_visibility(main, segments, organizations)
        if visibility == Visibility.INTERNAL and main.get("user_segment_id") is not None:
            segment = segments.get(main.get("user_segment_id")) or {}
            if segment.get("user_type") != "staff":
                report.held_back.append(texts.get(source_locale, {}).get("title", str(article_id)))
        parsed.append(
            _Article(
                key=f"zendesk:article:{article_id}",
                section_key=f"zendesk:section:{main.get('section_id')}",
                source_locale=source_locale,
                texts=texts,
                published=not drafts.get(source_locale, bool(main.get("draft"))),
                visibility=visibility,
                organization_ids=organization_ids,
                position=int(main.get("position") or 0),
                promoted=bool(main.get("promoted")),
                history=_zendesk_votes(main),
                tags=[str(label) for label in main.get("label_names") or []],
                source_id=article_id,
            )
        )
    section_records = {section_id: _source_record(rows) for section_id, rows in sections.items()}

    def top_category(section: dict[str, Any]) -> Any:
        seen = set()
        while section.get("parent_section_id") in section_records and section["id"] not in seen:
            seen.add(section["id"])
            section = section_records[section["parent_section_id"]]
        return section.get("category_id")

    with _writing(dry_run):
        writer = _Writer(
            actor, report, source, dry_run=dry_run, progress=progress, articles=len(parsed)
        )
        for category_id, rows in categories.items():
            main = _source_record(rows)
            writer.category(
                f"zendesk:category:{category_id}", str(main.get("name") or "Untitled"),
                str(main.get("description") or ""), int(main.get("position") or 0),
            )  # fmt: skip
        for section_id, main in section_records.items():
            writer.section(
                f"zendesk:section:{section_id}", f"zendesk:category:{top_category(main)}",
                str(main.get("name") or "Untitled"), str(main.get("description") or ""),
                int(main.get("position") or 0),
            )  # fmt: skip
        for item in parsed:
            writer.article(item)
    return report


# --- Help Scout Docs ----------------------------------------------------------------------------


def import_helpscout(
    *, actor: Any, source: Any, dry_run: bool = False, progress: Progress | None = None
) -> ImportReport:
    """Collections become categories, categories sections, articles articles (in their
    first category), keywords tags; a private collection's articles are agents-only."""
    policy.require(policy.can_manage_help_center(actor), "Only admins import a help center.")
    report = ImportReport(source="Help Scout Docs", dry_run=dry_run)
    collections = {c["id"]: c for c in source.collect("collections") if c.get("id")}
    categories = {c["id"]: c for c in source.collect("categories") if c.get("id")}
    # One record per article; a saved list's references (no text) give way to full answers.
    by_id: dict[Any, dict[str, Any]] = {}
    for record in source.collect("articles", "article"):
        if record.get("id") and ("text" in record or record["id"] not in by_id):
            by_id[record["id"]] = record
    articles = list(by_id.values())
    if not articles and not collections:
        raise ImportFailed("The export holds no Help Scout collections or articles.")
    numbers = {str(a["number"]) for a in articles if a.get("number") is not None}
    default = _default_locale()

    # Keyed by the number in their public addresses (/collection/1-..., /category/10-...),
    # as our kinds: a collection is a category here, a category a section.
    collection_key = {
        cid: f"helpscout:category:{c.get('number') or cid}" for cid, c in collections.items()
    }
    category_key = {
        cid: f"helpscout:section:{c.get('number') or cid}" for cid, c in categories.items()
    }
    general_key = {  # a collection's uncategorized articles
        cid: f"helpscout:section:general-{c.get('number') or cid}" for cid, c in collections.items()
    }

    with _writing(dry_run):
        writer = _Writer(
            actor, report, source, dry_run=dry_run, progress=progress, articles=len(articles)
        )
        for collection in collections.values():
            writer.category(
                collection_key[collection["id"]],
                str(collection.get("name") or "Untitled"),
                str(collection.get("description") or ""), int(collection.get("order") or 0),
            )  # fmt: skip
        for category in categories.values():
            writer.section(
                category_key[category["id"]],
                collection_key.get(category.get("collectionId"), ""),
                str(category.get("name") or "Untitled"), str(category.get("description") or ""),
                int(category.get("order") or 0),
            )  # fmt: skip
        for article in articles:
            in_categories = [c for c in article.get("categories") or [] if c in categories]
            if in_categories:  # in several: the first one (Concierge files it once)
                section_key = category_key[in_categories[0]]
            else:  # uncategorized: Help Scout lists it under its collection alone
                in_collection = article.get("collectionId")
                section_key = general_key.get(in_collection, "")
                if section_key and section_key not in writer.sections:
                    writer.section(section_key, collection_key[in_collection], "General", "")
            collection = collections.get(article.get("collectionId")) or {}
            body = HELPSCOUT_ARTICLE_LINK.sub(
                lambda m: f"/article/{m.group(1)}" if m.group(1) in numbers else m.group(0),
                html_to_markdown(str(article.get("text") or "")),
            )
            writer.article(
                _Article(
                    key=f"helpscout:article:{article.get('number') or article['id']}",
                    section_key=section_key,
                    source_locale=default,
                    texts={
                        default: {"title": str(article.get("name") or "").strip(), "body": body}
                    },
                    published=article.get("status") == "published",
                    visibility=Visibility.INTERNAL
                    if collection.get("visibility") == "private"
                    else Visibility.PUBLIC,
                    tags=[str(keyword) for keyword in article.get("keywords") or []],
                    source_id=article["id"],
                    history={"view_count": max(0, int(article.get("viewCount") or 0))},
                )
            )
    return report


def _name(value: str) -> str:
    return " ".join(value.split())[: actions.NAME_MAX_CHARS] or "Untitled"


def _description(value: str) -> str:
    return " ".join(value.split())[: actions.DESCRIPTION_MAX_CHARS]


def _default_locale() -> str:
    from concierge.knowledge.services import help_center_settings

    return help_center_settings().default_locale


def _help_center_locale(locale: str, default: str) -> str:
    """Zendesk's "en-us" is the help center's "en" when that is its language (the reader's
    "en" then finds it); other regional locales stay as they are."""
    base = locale.split("-")[0]
    return default if base == default else locale


# --- imports started from the workspace: queued, run by a background task ---------------------

# An uploaded export larger than this is refused with this figure in the message.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
# A run marked running this long ago ended without saying so (its worker stopped):
# it no longer blocks the next import.
STALE_RUN = timedelta(hours=2)
# An uploaded export not imported (only checked, or the run failed) is deleted after this long.
EXPORT_KEPT_FOR = timedelta(days=7)
# "acme", "acme.zendesk.com" or "https://acme.zendesk.com/hc/en-us": the subdomain.
ZENDESK_SUBDOMAIN = re.compile(
    r"^(?:https?://)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.zendesk\.com)?(?:/.*)?$"
)


@dataclass
class ImportRequest:
    """What an admin asked for on the import page (the form's cleaned data)."""

    source: str
    dry_run: bool = True
    export_name: str = ""
    export: IO[bytes] | None = None  # the uploaded file
    subdomain: str = ""
    email: str = ""
    secret: str = ""


def zendesk_subdomain(value: str) -> str:
    found = ZENDESK_SUBDOMAIN.match(value.strip().lower())
    if not found:
        raise ValidationFailed(
            "Give the Zendesk subdomain: acme for https://acme.zendesk.com.",
            field_errors={"subdomain": ["Letters, digits and hyphens, as in acme.zendesk.com."]},
        )
    return found.group(1)


def start_import(*, actor: Any, request: ImportRequest) -> HelpCenterImport:
    """Queues an import (one at a time: a second would race the first's updates)."""
    policy.require(policy.can_manage_help_center(actor), "Only admins import a help center.")
    if request.source not in SOURCES:
        raise ValidationFailed("Choose Zendesk Guide or Help Scout Docs.")
    job = HelpCenterImport(source=request.source, dry_run=request.dry_run, created_by=actor)
    if request.export is not None:
        job.export_name = Path(request.export_name or "export.zip").name[:255]
    elif not request.secret:
        raise ValidationFailed(
            "Upload an export, or give the API token for a live import.",
            field_errors={"export": ["Upload the JSON files saved from the API, zipped."]},
        )
    elif request.source == "zendesk":
        job.subdomain = zendesk_subdomain(request.subdomain)
        if "@" not in request.email:
            raise ValidationFailed(
                "Give the email of the Zendesk agent the API token belongs to.",
                field_errors={"email": ["The agent's email address."]},
            )
        job.api_email = request.email.strip()
    job.api_secret = request.secret
    # Outside the transaction below: a refused start must not undo the clean-up after
    # the files it deleted are gone.
    _forget_old_runs()
    with transaction.atomic():
        _refuse_while_busy()
        if request.export is not None:
            job.export.save(job.export_name, File(request.export), save=False)
        job.save()
        enqueue_after_commit(_run_task(), job.pk)
    return job


def can_import_again(job: HelpCenterImport) -> bool:
    """An uploaded export that was checked, or whose import failed, can be imported
    without uploading it again (while it is kept, ``EXPORT_KEPT_FOR``)."""
    if not job.export:
        return False
    checked = job.dry_run and job.status == ImportStatus.DONE
    return checked or (not job.dry_run and job.status == ImportStatus.FAILED)


def import_again(*, actor: Any, previous: HelpCenterImport) -> HelpCenterImport:
    """Imports the export of a checked (or failed) run."""
    policy.require(policy.can_manage_help_center(actor), "Only admins import a help center.")
    if not can_import_again(previous):
        raise ValidationFailed(
            "Only an uploaded export that was checked, or whose import failed, is imported "
            "from here: upload it again."
        )
    with transaction.atomic():
        _refuse_while_busy()
        job = HelpCenterImport.objects.create(
            source=previous.source,
            dry_run=False,
            export=previous.export.name,  # the same stored file
            export_name=previous.export_name,
            created_by=actor,
        )
        enqueue_after_commit(_run_task(), job.pk)
    return job


def _refuse_while_busy() -> None:
    busy = HelpCenterImport.objects.select_for_update().filter(
        status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING]
    )
    if busy.exists():
        raise Conflict("An import is already waiting or running; start the next when it ends.")


def _run_task() -> Any:
    from concierge.knowledge.tasks import run_help_center_import

    return run_help_center_import


def _forget_old_runs() -> None:
    """Marks runs whose worker stopped as failed; deletes exports checked and left."""
    now = timezone.now()
    HelpCenterImport.objects.filter(
        status=ImportStatus.RUNNING, started_at__lt=now - STALE_RUN
    ).update(
        status=ImportStatus.FAILED,
        api_secret="",
        finished_at=now,
        error="The run stopped without finishing (its worker restarted); importing again "
        "updates what it wrote and carries on.",
    )
    for job in HelpCenterImport.objects.filter(finished_at__lt=now - EXPORT_KEPT_FOR).exclude(
        export=""
    ):
        _delete_export(job)


def _delete_export(job: HelpCenterImport) -> None:
    """Deletes the stored file (and every run's reference to it) unless an
    unfinished run still reads it."""
    name = job.export.name
    unfinished = HelpCenterImport.objects.filter(
        export=name, status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING]
    )
    if not name or unfinished.exclude(pk=job.pk).exists():
        return
    HelpCenterImport.objects.filter(export=name).update(export="")
    job.export.storage.delete(name)


def run_import(import_id: int) -> None:
    """Runs a queued import; a second call for the same one does nothing."""
    claimed = HelpCenterImport.objects.filter(pk=import_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return
    job = HelpCenterImport.objects.select_related("created_by").get(pk=import_id)
    status, report, error = ImportStatus.FAILED, [], ""
    progress = _progress_of(import_id)
    try:
        if job.created_by is None:
            raise ImportFailed("The admin who started this import no longer exists.")
        run = import_zendesk if job.source == "zendesk" else import_helpscout
        if job.export:
            progress("Reading the export")
            with job.export.open("rb") as stream:
                source: Any = ArchiveSource(job.export_name, stream)
                result = run(
                    actor=job.created_by, source=source, dry_run=job.dry_run, progress=progress
                )
        else:
            source = _api_source(job)
            source.api.on_read = lambda count: progress(f"Reading the API: {count} answers")
            result = run(
                actor=job.created_by, source=source, dry_run=job.dry_run, progress=progress
            )
        status, report = ImportStatus.DONE, result.lines()
    except ConciergeError as failure:
        error = failure.message
    except Exception:  # the run must end as failed, whatever stopped it
        logger.exception("Help center import %s failed", import_id)
        error = (
            "The import stopped on an unexpected error (the server log has the details); "
            "what it wrote before stays, and importing again updates it."
        )
    HelpCenterImport.objects.filter(pk=import_id).update(
        status=status,
        report=report,
        error=error,
        api_secret="",  # the token is needed only while the run reads the API
        finished_at=timezone.now(),
    )
    if job.export and status == ImportStatus.DONE and not job.dry_run:
        _delete_export(job)  # imported; a failed run keeps it for another try


# How often a run's progress line is refreshed (it lives in the cache: a check's
# writes are rolled back, and the page must see it while the run goes on).
PROGRESS_EVERY_SECONDS = 1.0
PROGRESS_KEPT_SECONDS = 3600


def _progress_key(import_id: int) -> str:
    return f"kb:import:{import_id}:progress"


def _progress_of(import_id: int) -> Progress:
    last = [0.0]

    def tell(message: str) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_SECONDS:
            last[0] = now
            cache.set(_progress_key(import_id), message[:200], timeout=PROGRESS_KEPT_SECONDS)

    return tell


def import_progress(import_id: int) -> str:
    """What a running import is doing now ("120 of 400 articles imported"), or ""."""
    return str(cache.get(_progress_key(import_id)) or "")


def _api_source(job: HelpCenterImport) -> Any:
    address = settings.HELP_CENTER_IMPORT_ADDRESSES[job.source]
    if job.source == "zendesk":
        return ZendeskApi(address.format(subdomain=job.subdomain), job.api_email, job.api_secret)
    return HelpScoutApi(job.api_secret, address)
