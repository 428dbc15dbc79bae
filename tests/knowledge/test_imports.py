"""Importing a help center from Zendesk Guide or Help Scout Docs (payloads in their API formats)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from concierge.core.errors import PermissionDenied, ValidationFailed
from concierge.knowledge import imports
from concierge.knowledge.models import Article, ArticleVersion, Category, Section
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

ZENDESK = "https://acme.zendesk.com"
HELPSCOUT_IMAGE = "https://d33v4339jhl8k0.cloudfront.net/docs/assets/s1/images/reset.png"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)
SEGMENT_FIELDS = {"tags": [], "or_tags": [], "group_ids": [], "organization_ids": [],
                  "added_user_ids": []}  # fmt: skip


def _zendesk_article(article_id: int, title: str, body: str, **fields: Any) -> dict[str, Any]:
    """An article as GET /api/v2/help_center/articles.json lists it."""
    return {
        "id": article_id,
        "url": f"{ZENDESK}/api/v2/help_center/en-us/articles/{article_id}.json",
        "html_url": f"{ZENDESK}/hc/en-us/articles/{article_id}",
        "author_id": 7, "comments_disabled": False, "draft": False, "promoted": False,
        "position": 0, "vote_sum": 0, "vote_count": 0, "section_id": 300,
        "created_at": "2024-04-17T17:18:10Z", "updated_at": "2024-04-17T17:18:10Z",
        "name": title, "title": title, "source_locale": "en-us", "locale": "en-us",
        "outdated": False, "outdated_locales": [], "edited_at": "2024-04-17T17:18:10Z",
        "user_segment_id": None, "permission_group_id": 5, "content_tag_ids": [],
        "label_names": [], "body": body, **fields,
    }  # fmt: skip


def zendesk_payloads() -> dict[str, Any]:
    articles = [
        _zendesk_article(
            400, "Download an invoice",
            "<h2>From your account</h2><ul><li>Open <strong>My orders</strong></li>"
            "<li>Click <em>Invoice</em></li></ul>"
            f'<p>Money back? See <a href="{ZENDESK}/hc/en-us/articles/401-Refunds">refunds</a>.</p>'
            f'<p><img src="{ZENDESK}/hc/article_attachments/9/invoice.png" alt="Invoice"></p>',
            promoted=True, label_names=["invoice", "pdf"], position=2,
            vote_count=10, vote_sum=-4,  # 3 said helpful, 7 did not
        ),
        _zendesk_article(401, "Refunds", "<p>Refunds take 5 days.</p>", section_id=301,
                         user_segment_id=10),
        _zendesk_article(402, "Agent macros", "<p>Use the refund macro.</p>", user_segment_id=11),
        _zendesk_article(403, "VIP pricing", "<p>VIP discounts.</p>", user_segment_id=12),
        _zendesk_article(404, "Coming soon", "<p>Not yet.</p>", draft=True),
        _zendesk_article(405, "Lost section", "<p>Nowhere.</p>", section_id=999),
        _zendesk_article(406, "Scripted", "<p>Hi</p><script>alert(1)</script>"),
    ]  # fmt: skip
    return {
        "categories.json": {
            "categories": [{
                "id": 200, "name": "Billing", "description": "Money matters", "locale": "en-us",
                "source_locale": "en-us", "position": 1, "outdated": False,
                "html_url": f"{ZENDESK}/hc/en-us/categories/200-Billing",
            }],
            "page": 1, "per_page": 30, "page_count": 1, "count": 1, "next_page": None,
        },
        "sections.json": {
            "sections": [
                {"id": 300, "category_id": 200, "name": "Invoices", "description": "",
                 "locale": "en-us", "source_locale": "en-us", "position": 0,
                 "parent_section_id": None},
                {"id": 301, "category_id": 200, "name": "Old invoices", "description": "Archive",
                 "locale": "en-us", "source_locale": "en-us", "position": 1,
                 "parent_section_id": 300},
            ],
            "next_page": None,
        },
        "articles.json": {"articles": articles, "next_page": None, "count": len(articles)},
        "user_segments.json": {"user_segments": [
            {"id": 10, "user_type": "signed_in_users", "name": "Signed-in users",
             "built_in": True, **SEGMENT_FIELDS},
            {"id": 11, "user_type": "staff", "name": "Agents and admins", "built_in": True,
             **SEGMENT_FIELDS},
            {"id": 12, "user_type": "signed_in_users", "name": "VIP", "built_in": False,
             **{**SEGMENT_FIELDS, "tags": ["vip"]}},
        ]},
        "translations-400.json": {"translations": [
            {"id": 9000, "source_id": 400, "source_type": "Article", "locale": "fr",
             "title": "Télécharger une facture",
             "body": "<p>Ouvrez <strong>Mes commandes</strong>.</p>", "draft": False},
            {"id": 9001, "source_id": 400, "source_type": "Article", "locale": "es",
             "title": "Descargar una factura", "body": "<p>Borrador.</p>", "draft": True},
        ]},
    }  # fmt: skip


def _write(folder: Path, payloads: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in payloads.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(payload), encoding="utf-8")
    return folder


def _imported(key: str) -> Article:
    return Article.objects.get(imported_from=key)


def test_a_zendesk_guide_export_becomes_the_help_center(admin_user: Any, tmp_path: Path) -> None:
    folder = _write(tmp_path / "zendesk", zendesk_payloads())

    report = imports.import_zendesk(actor=admin_user, source=imports.FolderSource(folder))

    assert report.categories == {"created": 1, "updated": 0}
    assert report.sections == {"created": 2, "updated": 0}
    assert report.articles == {"created": 6, "updated": 0}
    assert report.translations == 1
    assert report.skipped == [
        "the es translation of 'Descargar una factura': a draft in Zendesk",
        "article 'Lost section': its section is not in the export",
    ]
    assert report.held_back == ["VIP pricing"]
    assert report.external_images == 1
    invoice = _imported("zendesk:article:400")
    source = invoice.translations.get(locale="en")  # Zendesk's en-us is the help center's en
    assert source.title == "Download an invoice"
    # Editable markdown: headings, bullets, and the link to another imported article
    # pointing at its old address, which redirects here.
    assert "## From your account" in source.body_source
    assert "- Open **My orders**" in source.body_source
    assert "[refunds](/hc/en-us/articles/401)" in source.body_source
    assert (invoice.status, invoice.visibility, invoice.is_promoted) == (
        "published",
        "public",
        True,
    )
    assert sorted(invoice.tags.values_list("name", flat=True)) == ["invoice", "pdf"]
    assert (invoice.helpful_count, invoice.unhelpful_count) == (3, 7)
    assert invoice.translations.get(locale="fr").title == "Télécharger une facture"
    assert not invoice.translations.filter(locale="es").exists()  # a draft there
    assert invoice.versions.count() == 2  # one first version per language
    refunds = _imported("zendesk:article:401")
    assert refunds.visibility == "signed_in"
    # The nested section is filed under its parent's category.
    assert (refunds.section.name, refunds.section.category.name) == ("Old invoices", "Billing")
    assert _imported("zendesk:article:402").visibility == "internal"
    assert _imported("zendesk:article:403").visibility == "internal"  # narrowed to a tag
    assert _imported("zendesk:article:404").status == "draft"
    assert "<script" not in _imported("zendesk:article:406").translations.get().body_html


def test_importing_again_updates_instead_of_copying(admin_user: Any, tmp_path: Path) -> None:
    payloads = zendesk_payloads()
    folder = _write(tmp_path / "zendesk", payloads)
    imports.import_zendesk(actor=admin_user, source=imports.FolderSource(folder))
    versions = ArticleVersion.objects.count()
    payloads["articles.json"]["articles"][1]["body"] = "<p>Refunds take 3 days now.</p>"
    _write(folder, payloads)

    report = imports.import_zendesk(actor=admin_user, source=imports.FolderSource(folder))

    assert report.articles == {"created": 0, "updated": 6}
    assert (Article.objects.count(), Section.objects.count(), Category.objects.count()) == (6, 2, 1)
    # Only the changed article has a new version.
    assert ArticleVersion.objects.count() == versions + 1
    refunds = _imported("zendesk:article:401").translations.get()
    assert refunds.body_source == "Refunds take 3 days now."


def test_a_dry_run_writes_nothing_and_bad_exports_are_refused(
    admin_user: Any, agent_user: Any, tmp_path: Path
) -> None:
    folder = _write(tmp_path / "zendesk", zendesk_payloads())

    report = imports.import_zendesk(
        actor=admin_user, source=imports.FolderSource(folder), dry_run=True
    )

    assert report.articles["created"] == 6 and report.lines()[0].startswith("Would import")
    assert not Article.objects.exists() and not Category.objects.exists()
    with pytest.raises(PermissionDenied):
        imports.import_zendesk(actor=agent_user, source=imports.FolderSource(folder))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "articles.json").write_text('{"articles": [', encoding="utf-8")
    with pytest.raises(imports.ImportFailed, match="articles.json is not JSON"):
        imports.FolderSource(tmp_path / "broken")
    (tmp_path / "empty").mkdir()
    with pytest.raises(imports.ImportFailed, match="No .json file"):
        imports.FolderSource(tmp_path / "empty")
    other = _write(tmp_path / "other", {"tickets.json": {"tickets": [{"id": 1}]}})
    with pytest.raises(imports.ImportFailed, match="no Zendesk categories or articles"):
        imports.import_zendesk(actor=admin_user, source=imports.FolderSource(other))


def test_old_zendesk_addresses_redirect_to_the_imported_pages(
    admin_user: Any, tmp_path: Path
) -> None:
    imports.import_zendesk(
        actor=admin_user, source=imports.FolderSource(_write(tmp_path, zendesk_payloads()))
    )
    visitor = Client()
    invoice = _imported("zendesk:article:400")

    moved = visitor.get("/hc/en-us/articles/400-Download-an-invoice")
    landed = visitor.get("/hc/en-us/articles/400-Download-an-invoice", follow=True)
    section = visitor.get("/hc/en-us/sections/300-Invoices", follow=True)
    category = visitor.get("/hc/categories/200", follow=True)

    assert moved.status_code == 301
    assert moved["Location"] == f"/portal/help/articles/{invoice.pk}/"
    assert landed.status_code == 200 and b"Download an invoice" in landed.content
    assert section.status_code == 200 and b"Invoices" in section.content
    assert category.status_code == 200 and b"Billing" in category.content
    # Access is the page's: an agents-only article stays hidden, its title too.
    hidden = visitor.get("/hc/en-us/articles/402-Agent-macros", follow=True)
    assert hidden.status_code == 404 and b"Agent macros" not in hidden.content
    assert visitor.get("/hc/en-us/articles/999999").status_code == 404
    # Its section holds only an article for signed-in customers: hidden from visitors too.
    assert visitor.get("/hc/en-us/sections/301-Old-invoices").status_code == 404


def helpscout_payloads() -> dict[str, Any]:
    def page(key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {key: {"page": 1, "pages": 1, "count": len(items), "items": items}}

    def article(number: int, name: str, text: str, **fields: Any) -> dict[str, Any]:
        return {"article": {
            "id": f"a{number}", "number": number, "collectionId": "c1", "status": "published",
            "viewCount": 40 + number,
            "hasDraft": False, "name": name, "text": text, "categories": ["k1"], "related": [],
            "publicUrl": f"https://docs.acme.com/article/{number}", "keywords": [],
            "slug": name.lower().replace(" ", "-"), "popularity": 0.0,
            "createdBy": 1, "updatedBy": 1, "createdAt": "2024-01-01T00:00:00Z",
            "updatedAt": "2024-01-02T00:00:00Z", **fields,
        }}  # fmt: skip

    return {
        "collections.json": page("collections", [
            {"id": "c1", "siteId": "s1", "number": 1, "slug": "getting-started",
             "visibility": "public", "order": 1, "name": "Getting started",
             "description": "First steps"},
            {"id": "c2", "siteId": "s1", "number": 2, "slug": "internal", "visibility": "private",
             "order": 2, "name": "Internal", "description": ""},
        ]),
        "categories.json": page("categories", [
            {"id": "k1", "number": 10, "slug": "account", "collectionId": "c1", "order": 1,
             "name": "Account", "articleCount": 2, "visibility": "public"},
        ]),
        "articles/101.json": article(
            101, "Reset your password",
            '<p>Turn on <a href="https://docs.acme.com/article/102-two-factor">two-factor</a>.</p>'
            f'<p><img src="{HELPSCOUT_IMAGE}" alt="Reset"></p>',
            keywords=["password"],
        ),
        "articles/102.json": article(102, "Two-factor for agents", "<p>Agents only.</p>",
                                     collectionId="c2", categories=[]),
        "articles/103.json": article(103, "Coming soon", "<p>Draft.</p>", status="notpublished"),
    }  # fmt: skip


def test_a_help_scout_docs_export_becomes_the_help_center(admin_user: Any, tmp_path: Path) -> None:
    folder = _write(tmp_path / "helpscout", helpscout_payloads())
    out = StringIO()

    call_command("import_help_center", "helpscout", "--folder", str(folder), "-v", "2", stdout=out)

    assert "Imported from Help Scout Docs: 2 new / 0 updated categories" in out.getvalue()
    assert "3 of 3 articles imported" in out.getvalue()  # -v 2: how far it got
    # From a folder nothing is fetched: the image stays on Help Scout's file host.
    assert "1 image(s) are still on another address" in out.getvalue()
    reset = _imported("helpscout:article:101")
    assert (reset.section.name, reset.section.category.name) == ("Account", "Getting started")
    assert reset.visibility == "public" and reset.status == "published"
    assert reset.view_count == 141
    assert "[two-factor](/article/102)" in reset.translations.get().body_source
    assert list(reset.tags.values_list("name", flat=True)) == ["password"]
    private = _imported("helpscout:article:102")
    # Uncategorized in a private collection: a "General" section, agents only.
    assert (private.section.name, private.section.category.name) == ("General", "Internal")
    assert private.visibility == "internal"
    assert _imported("helpscout:article:103").status == "draft"
    moved = Client().get("/article/101-reset-your-password")
    assert moved.status_code == 301 and moved["Location"] == f"/portal/help/articles/{reset.pk}/"
    collection = Client().get("/collection/1-getting-started", follow=True)
    category = Client().get("/category/10-account", follow=True)
    assert collection.status_code == 200 and b"Getting started" in collection.content
    assert category.status_code == 200 and b"Account" in category.content
    assert Client().get("/collection/2-internal").status_code == 404  # agents only inside


def test_the_command_explains_what_it_needs(admin_user: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("ZENDESK_API_TOKEN", raising=False)
    with pytest.raises(CommandError, match="set ZENDESK_API_TOKEN"):
        call_command("import_help_center", "zendesk")
    monkeypatch.setenv("ZENDESK_API_TOKEN", "secret")
    with pytest.raises(CommandError, match="--url"):
        call_command("import_help_center", "zendesk")
    with pytest.raises(CommandError, match="No such active admin"):
        call_command("import_help_center", "zendesk", "--folder", ".", "--as", "x@example.com")
    # Credentials never go to a plain-http address other than this machine.
    with pytest.raises(ValidationFailed, match="https://"):
        imports.ZendeskApi("http://acme.zendesk.com", "me@acme.com", "secret")


# --- the live APIs, served on loopback in their documented formats -----------------------------


class _Api(BaseHTTPRequestHandler):
    """Answers what a test sets in ``answers`` (by path and page), in the APIs' formats."""

    answers: dict[str, Any] = {}
    authorizations: list[str] = []
    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.authorizations.append(self.headers.get("Authorization", ""))
        self.paths.append(self.path)
        parts = urlsplit(self.path)
        key = parts.path + ("?page=" + parse_qs(parts.query)["page"][0] if parts.query else "")
        payload = self.answers.get(key)
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(200 if payload is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_importing_live_from_the_zendesk_api_follows_every_page(
    admin_user: Any, api_server: str
) -> None:
    payloads = zendesk_payloads()
    articles = payloads["articles.json"]["articles"]
    prefix = "/api/v2/help_center"
    _Api.authorizations = []
    _Api.answers = {
        f"{prefix}/categories.json": payloads["categories.json"],
        f"{prefix}/sections.json": payloads["sections.json"],
        f"{prefix}/user_segments.json": payloads["user_segments.json"],
        f"{prefix}/articles.json": {
            "articles": articles[:3], "next_page": f"{api_server}{prefix}/articles.json?page=2",
        },
        f"{prefix}/articles.json?page=2": {"articles": articles[3:], "next_page": None},
        **{f"{prefix}/articles/{a['id']}/translations.json": {"translations": []}
           for a in articles},
        f"{prefix}/articles/400/translations.json": payloads["translations-400.json"],
        **{f"{prefix}/articles/{a['id']}/attachments.json": {"article_attachments": []}
           for a in articles},
        # The body names its image on the help center's own domain, the API on its host;
        # a second file lives elsewhere: credentials never go there, it stays external.
        f"{prefix}/articles/400/attachments.json": {"article_attachments": [
            {"id": 9, "article_id": 400, "file_name": "invoice.png", "content_type": "image/png",
             "size": len(PNG), "inline": True,
             "content_url": f"{api_server}/hc/article_attachments/9/invoice.png"},
            {"id": 10, "article_id": 400, "file_name": "cdn.png", "content_type": "image/png",
             "size": 1, "inline": True, "content_url": "https://cdn.example.com/cdn.png"},
        ]},
        "/hc/article_attachments/9/invoice.png": PNG,
    }  # fmt: skip

    source = imports.ZendeskApi(api_server, "admin@acme.com", "s3cret")
    report = imports.import_zendesk(actor=admin_user, source=source)

    assert report.articles["created"] == 6 and report.translations == 1
    expected = "Basic " + base64.b64encode(b"admin@acme.com/token:s3cret").decode()
    assert set(_Api.authorizations) == {expected}
    assert _imported("zendesk:article:404").status == "draft"  # from the second page
    # The image now lives here and the article shows it from here.
    invoice = _imported("zendesk:article:400")
    (image,) = invoice.attachments.all()
    assert (image.filename, image.content_type, image.file.read()) == (
        "invoice.png",
        "image/png",
        PNG,
    )
    text = invoice.translations.get(locale="en")
    assert f"](/portal/help/files/{image.pk}/invoice.png)" in text.body_source
    assert "acme.zendesk.com/hc/article_attachments" not in text.body_source
    assert (report.files, report.external_images) == (1, 0)
    # The imported text stays in the history; the moved images are the next version.
    assert invoice.versions.filter(locale="en").count() == 2
    assert Client().get(f"/portal/help/files/{image.pk}/invoice.png").status_code == 200

    again = imports.import_zendesk(actor=admin_user, source=source)

    assert again.files == 0 and invoice.attachments.count() == 1  # not copied twice
    assert invoice.versions.filter(locale="en").count() == 2


def test_importing_live_from_the_help_scout_docs_api_reads_every_page(
    admin_user: Any, api_server: str
) -> None:
    """The Docs API: collections, each collection's categories, its article references
    page by page (?page=N of "pages"), then each article's own answer with its text."""
    payloads = helpscout_payloads()
    full = {p["article"]["id"]: p for name, p in payloads.items() if name.startswith("articles/")}

    def refs(*ids: str, page: int, pages: int) -> dict[str, Any]:
        items = [{"id": i, "number": full[i]["article"]["number"], "name": "ref"} for i in ids]
        return {"articles": {"page": page, "pages": pages, "count": 3, "items": items}}

    _Api.authorizations = []
    _Api.answers = {
        "/v1/collections?page=1": payloads["collections.json"],
        "/v1/collections/c1/categories?page=1": payloads["categories.json"],
        "/v1/collections/c2/categories?page=1": {"categories": {"pages": 1, "items": []}},
        "/v1/collections/c1/articles?page=1": refs("a101", page=1, pages=2),
        "/v1/collections/c1/articles?page=2": refs("a103", page=2, pages=2),
        "/v1/collections/c2/articles?page=1": refs("a102", page=1, pages=1),
        **{f"/v1/articles/{article_id}": answer for article_id, answer in full.items()},
    }

    fetched: list[str] = []

    def fetch_image(url: str) -> bytes | None:  # stands for Help Scout's public file host
        fetched.append(url)
        return PNG

    source = imports.HelpScoutApi("k3y", api_server, fetch_image=fetch_image)
    report = imports.import_helpscout(actor=admin_user, source=source)

    assert report.articles == {"created": 3, "updated": 0}
    assert fetched == [HELPSCOUT_IMAGE] and (report.files, report.external_images) == (1, 0)
    reset = _imported("helpscout:article:101")
    (image,) = reset.attachments.all()
    assert f"](/portal/help/files/{image.pk}/reset.png)" in reset.translations.get().body_source
    assert _imported("helpscout:article:103").status == "draft"  # the second page
    assert _imported("helpscout:article:102").visibility == "internal"
    assert set(_Api.authorizations) == {"Basic " + base64.b64encode(b"k3y:X").decode()}


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.example.com/a.png",  # not HTTPS
        "https://127.0.0.1/a.png",  # this machine
        "https://localhost/a.png",
        "https://[::1]/a.png",
        "https://10.1.2.3/a.png",  # a private network
        "https://169.254.169.254/latest/meta-data",  # a cloud's metadata address
        "file:///etc/passwd",
    ],
)
def test_an_articles_images_are_never_fetched_from_this_machine_or_a_private_network(
    url: str,
) -> None:
    """Article text chooses these addresses: refused before any connection is made."""
    assert imports.fetch_public_image(url) is None


class _Answer:
    """What urllib's opener answers, as far as fetch_public_image reads it."""

    def __init__(self, content_type: str, body: bytes) -> None:
        from email.message import Message

        self.headers = Message()
        self.headers["Content-Type"] = content_type
        self.body = body

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def read(self, limit: int) -> bytes:
        return self.body[:limit]


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [("image/png", PNG, PNG), ("text/html", b"<html>", None), ("image/png", None, None)],
    ids=["an-image", "not-an-image", "a-redirect-refused"],
)
def test_a_public_image_is_fetched_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch, content_type: str, body: bytes | None, expected: Any
) -> None:
    import socket
    from urllib.error import HTTPError

    public = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
    monkeypatch.setattr(imports.socket, "getaddrinfo", lambda *args, **kwargs: public)
    opened: list[str] = []

    class Opener:
        def open(self, request: Any, timeout: float) -> _Answer:
            opened.append(request.full_url)
            assert "Authorization" not in request.headers  # never credentials
            if body is None:  # what urllib raises for a redirect nobody follows
                raise HTTPError(request.full_url, 302, "Found", None, None)  # type: ignore[arg-type]
            return _Answer(content_type, body)

    monkeypatch.setattr(imports, "build_opener", lambda *handlers: Opener())

    assert imports.fetch_public_image(HELPSCOUT_IMAGE) == expected
    assert opened == [HELPSCOUT_IMAGE]


def test_a_public_image_is_fetched_from_the_very_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name that resolves to a public address for the check and to this machine a moment
    later (DNS rebinding) must not reach this machine: the connection uses the checked one."""
    import socket

    answers = iter([
        [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))],
        [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 443))],
    ])  # fmt: skip
    monkeypatch.setattr(imports.socket, "getaddrinfo", lambda *args, **kwargs: next(answers))
    connected: list[tuple[str, int]] = []

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        connected.append(address)
        raise ConnectionRefusedError("not on the network in tests")

    monkeypatch.setattr(imports.socket, "create_connection", create_connection)

    assert imports.fetch_public_image(HELPSCOUT_IMAGE) is None
    assert connected == [("93.184.215.14", 443)]


def _zendesk_api_answers(api_server: str, attachment_answer: Any = None) -> None:
    """The loopback API answering the Zendesk payloads in one page, article 400 with a file."""
    payloads = zendesk_payloads()
    prefix = "/api/v2/help_center"
    articles = payloads["articles.json"]["articles"]
    _Api.authorizations, _Api.paths = [], []
    _Api.answers = {
        f"{prefix}/categories.json": payloads["categories.json"],
        f"{prefix}/sections.json": payloads["sections.json"],
        f"{prefix}/user_segments.json": payloads["user_segments.json"],
        f"{prefix}/articles.json": payloads["articles.json"],
        **{f"{prefix}/articles/{a['id']}/translations.json": {"translations": []}
           for a in articles},
        **{f"{prefix}/articles/{a['id']}/attachments.json": {"article_attachments": []}
           for a in articles},
        f"{prefix}/articles/400/attachments.json": {"article_attachments": [
            {"id": 9, "article_id": 400, "file_name": "invoice.png", "content_type": "image/png",
             "size": len(PNG), "inline": True,
             "content_url": f"{api_server}/hc/article_attachments/9/invoice.png"},
        ]},
        "/hc/article_attachments/9/invoice.png": attachment_answer,
    }  # fmt: skip


def test_a_check_of_a_live_source_downloads_no_file(admin_user: Any, api_server: str) -> None:
    from concierge.knowledge.models import ArticleAttachment

    _zendesk_api_answers(api_server, attachment_answer=PNG)
    source = imports.ZendeskApi(api_server, "admin@acme.com", "s3cret")

    report = imports.import_zendesk(actor=admin_user, source=source, dry_run=True)

    assert report.articles["created"] == 6 and not Article.objects.exists()
    assert "/hc/article_attachments/9/invoice.png" not in _Api.paths
    assert "files: copied by the import." in report.lines()[0]
    assert not ArticleAttachment.objects.exists()


def test_a_file_that_cannot_be_read_leaves_its_image_where_it_is(
    admin_user: Any, api_server: str
) -> None:
    _zendesk_api_answers(api_server, attachment_answer=None)  # the file host answers 404
    source = imports.ZendeskApi(api_server, "admin@acme.com", "s3cret")

    report = imports.import_zendesk(actor=admin_user, source=source)

    assert report.articles["created"] == 6  # every article, the one with the file too
    invoice = _imported("zendesk:article:400")
    assert not invoice.attachments.exists()
    assert any(line.startswith("the files of 'Download an invoice': Could not read")
               for line in report.skipped)  # fmt: skip


def test_an_import_stopped_midway_keeps_what_it_wrote_and_the_next_run_carries_on(
    admin_user: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """Article by article, not one transaction: a large import never holds the database."""
    folder = _write(tmp_path / "export", zendesk_payloads())
    written = imports._Writer.article
    calls: list[str] = []

    def stop_at_the_third(self: Any, item: Any) -> None:
        calls.append(item.key)
        if len(calls) == 3:
            raise RuntimeError("the worker stopped")
        written(self, item)

    monkeypatch.setattr(imports._Writer, "article", stop_at_the_third)
    with pytest.raises(RuntimeError):
        imports.import_zendesk(actor=admin_user, source=imports.FolderSource(folder))

    assert Article.objects.count() == 2
    monkeypatch.setattr(imports._Writer, "article", written)
    again = imports.import_zendesk(actor=admin_user, source=imports.FolderSource(folder))
    assert again.articles == {"created": 4, "updated": 2}
    assert Article.objects.count() == 6


def test_a_folder_with_the_images_beside_the_json_copies_them(
    admin_user: Any, tmp_path: Path
) -> None:
    folder = _write(tmp_path / "export", zendesk_payloads())
    (folder / "invoice.png").write_bytes(PNG)  # found by its name, the only one

    check = imports.import_zendesk(
        actor=admin_user, source=imports.FolderSource(folder), dry_run=True
    )
    report = imports.import_zendesk(actor=admin_user, source=imports.FolderSource(folder))

    assert "files: copied by the import." in check.lines()[0]
    assert (report.files, report.external_images) == (1, 0)
    assert _imported("zendesk:article:400").attachments.get().filename == "invoice.png"


def _organization_segments(payloads: dict[str, Any]) -> dict[str, Any]:
    """The export plus segments narrowed to organizations, and the Support API's list of them."""
    payloads["user_segments.json"]["user_segments"] += [
        {"id": 13, "user_type": "signed_in_users", "name": "Key accounts", "built_in": False,
         **{**SEGMENT_FIELDS, "organization_ids": [501, 502]}},
        {"id": 14, "user_type": "signed_in_users", "name": "Initech", "built_in": False,
         **{**SEGMENT_FIELDS, "organization_ids": [503]}},
    ]  # fmt: skip
    payloads["articles.json"]["articles"] += [
        _zendesk_article(407, "Key account pricing", "<p>Your rates.</p>", user_segment_id=13),
        _zendesk_article(408, "Initech setup", "<p>Initech only.</p>", user_segment_id=14),
        _zendesk_article(
            409, "Statements", "<p>Monthly.</p>", user_segment_id=13, user_segment_ids=[13, 10]
        ),
    ]
    payloads["organizations.json"] = {
        "organizations": [
            {"id": 501, "name": "ACME Corp", "domain_names": ["acme.test"]},
            {"id": 502, "name": "Globex", "domain_names": []},
            {"id": 503, "name": "Initech", "domain_names": []},
        ],
        "next_page": None,
    }
    return payloads


def test_zendesk_segments_of_organizations_become_articles_for_those_organizations(
    admin_user: Any, tmp_path: Path
) -> None:
    acme = OrganizationFactory(name="Acme Corp")  # Zendesk's "ACME Corp": the same name
    folder = _write(tmp_path / "zendesk", _organization_segments(zendesk_payloads()))

    report = imports.import_zendesk(actor=admin_user, source=imports.FolderSource(folder))

    key_accounts = _imported("zendesk:article:407")
    assert key_accounts.visibility == "organizations"
    assert list(key_accounts.organizations.all()) == [acme]  # Globex is not here: left out
    # No namesake for any of the segment's organizations: agents only, for an admin to decide.
    assert _imported("zendesk:article:408").visibility == "internal"
    assert "Initech setup" in report.held_back
    # In an organizations' segment and the signed-in users' one: the wider of the two.
    assert _imported("zendesk:article:409").visibility == "signed_in"
    assert report.unmatched_organizations == ["Globex", "Initech"]
    assert any("Globex; Initech" in line for line in report.lines())
    # Once the organization exists here, importing again lets its customers read it.
    initech = OrganizationFactory(name="Initech")
    imports.import_zendesk(actor=admin_user, source=imports.FolderSource(folder))
    initech_setup = _imported("zendesk:article:408")
    assert initech_setup.visibility == "organizations"
    assert list(initech_setup.organizations.all()) == [initech]


def test_a_live_import_reads_the_organizations_segments_name(
    admin_user: Any, api_server: str
) -> None:
    OrganizationFactory(name="Acme Corp")
    payloads = _organization_segments(zendesk_payloads())
    articles = payloads["articles.json"]["articles"]
    prefix = "/api/v2/help_center"
    _Api.paths = []
    _Api.answers = {
        f"{prefix}/categories.json": payloads["categories.json"],
        f"{prefix}/sections.json": payloads["sections.json"],
        f"{prefix}/user_segments.json": payloads["user_segments.json"],
        f"{prefix}/articles.json": {"articles": articles, "next_page": None},
        **{f"{prefix}/articles/{a['id']}/translations.json": {"translations": []}
           for a in articles},
        **{f"{prefix}/articles/{a['id']}/attachments.json": {"article_attachments": []}
           for a in articles},
        "/api/v2/organizations.json": payloads["organizations.json"],
    }  # fmt: skip

    source = imports.ZendeskApi(api_server, "admin@acme.com", "s3cret")
    report = imports.import_zendesk(actor=admin_user, source=source, dry_run=True)

    assert _Api.paths.count("/api/v2/organizations.json") == 1  # read once, when needed
    assert report.unmatched_organizations == ["Globex", "Initech"]
    assert report.held_back == ["VIP pricing", "Initech setup"]
    assert not Article.objects.exists()  # a check writes nothing


def test_organizations_a_token_cannot_read_leave_their_articles_to_agents(
    admin_user: Any, api_server: str
) -> None:
    payloads = _organization_segments(zendesk_payloads())
    articles = payloads["articles.json"]["articles"]
    prefix = "/api/v2/help_center"
    _Api.answers = {
        f"{prefix}/categories.json": payloads["categories.json"],
        f"{prefix}/sections.json": payloads["sections.json"],
        f"{prefix}/user_segments.json": payloads["user_segments.json"],
        f"{prefix}/articles.json": {"articles": articles, "next_page": None},
        **{
            f"{prefix}/articles/{a['id']}/translations.json": {"translations": []} for a in articles
        },
        **{
            f"{prefix}/articles/{a['id']}/attachments.json": {"article_attachments": []}
            for a in articles
        },
    }  # fmt: skip  (no /api/v2/organizations.json: answered 404)

    source = imports.ZendeskApi(api_server, "admin@acme.com", "s3cret")
    report = imports.import_zendesk(actor=admin_user, source=source)

    assert _imported("zendesk:article:407").visibility == "internal"
    assert any(reason.startswith("organizations: Could not read") for reason in report.skipped)
