"""The workspace's import page: an export uploaded, or the API read live, in a background task."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from concierge.knowledge import imports
from concierge.knowledge.models import Article, HelpCenterImport, ImportStatus
from tests.conftest import signed_in_client
from tests.knowledge.test_imports import (  # noqa: F401 - api_server: a fixture
    PNG,
    _Api,
    _zendesk_api_answers,
    api_server,
    zendesk_payloads,
)

pytestmark = pytest.mark.django_db


def _zip(payloads: dict[str, Any], extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in payloads.items():
            archive.writestr(f"zendesk-export/{name}", json.dumps(payload))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _upload(client: Any, data: bytes, *, dry_run: bool, name: str = "export.zip") -> Any:
    form = {"source": "zendesk", "export": SimpleUploadedFile(name, data)}
    return client.post("/knowledge/import/", {**form, **({"dry_run": "on"} if dry_run else {})})


def test_an_uploaded_export_is_checked_then_imported_without_uploading_it_again(
    admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = signed_in_client(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        checked = _upload(client, _zip(zendesk_payloads()), dry_run=True)

    assert checked.status_code == 302
    check = HelpCenterImport.objects.get()
    assert (check.status, check.dry_run, check.export_name) == ("done", True, "export.zip")
    assert check.report[0].startswith("Would import from Zendesk Guide: 1 new / 0 updated categ")
    assert not Article.objects.exists()  # a check writes nothing
    page = client.get("/knowledge/import/").content.decode()
    assert "Would import from Zendesk Guide" in page and "Import this export" in page

    stored = check.export.name
    assert default_storage.exists(stored)

    with django_capture_on_commit_callbacks(execute=True):
        imported = client.post(f"/knowledge/import/{check.pk}/again/")

    assert imported.status_code == 302
    run = HelpCenterImport.objects.exclude(pk=check.pk).get()
    assert (run.status, run.dry_run, run.created_by) == ("done", False, admin_user)
    assert run.report[0].startswith("Imported from Zendesk Guide")
    assert Article.objects.filter(imported_from__startswith="zendesk:article:").count() == 6
    # Imported: the stored export is deleted and no run offers it again.
    check.refresh_from_db()
    assert not check.export and not run.export
    assert not default_storage.exists(stored)
    assert "Import this export" not in client.get("/knowledge/import/").content.decode()


def test_a_bad_export_fails_with_the_file_named_and_writes_nothing(
    admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = signed_in_client(admin_user)
    export = _zip(zendesk_payloads(), extra={"zendesk-export/articles-2.json": b"{not json"})

    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, export, dry_run=False)

    run = HelpCenterImport.objects.get()
    assert run.status == "failed" and "articles-2.json is not JSON" in run.error
    assert not Article.objects.exists()
    # A failed import keeps its export so that it can be tried again.
    assert run.export and imports.can_import_again(run)
    page = client.get("/knowledge/import/").content.decode()
    assert "articles-2.json is not JSON" in page and "Try this import again" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 broken", "is not a ZIP archive that can be read"),
        (b"\xff\xfe not text", "is not JSON"),
        (b'{"tickets": []}', "holds no Zendesk categories or articles"),
    ],
)
def test_what_is_not_an_export_is_refused_with_a_reason(
    admin_user: Any, django_capture_on_commit_callbacks: Any, data: bytes, message: str
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _upload(signed_in_client(admin_user), data, dry_run=True, name="export.json")

    assert message in HelpCenterImport.objects.get().error


def test_an_archive_that_unpacks_past_the_limit_stops_there(
    admin_user: Any, monkeypatch: Any
) -> None:
    """A ZIP bomb: the sizes read count, not the sizes the archive claims."""
    monkeypatch.setattr(imports, "MAX_ARCHIVE_BYTES", 10_000)
    data = _zip({"articles.json": {"articles": [{"id": 1, "body": "x" * 20_000}]}})
    assert len(data) < 1_000

    with pytest.raises(imports.ImportFailed, match="unpacks to over"):
        imports.ArchiveSource("bomb.zip", io.BytesIO(data))


def test_one_import_at_a_time(admin_user: Any) -> None:
    client = signed_in_client(admin_user)
    assert _upload(client, _zip(zendesk_payloads()), dry_run=True).status_code == 302  # queued

    second = _upload(client, _zip(zendesk_payloads()), dry_run=True)

    assert second.status_code == 409
    assert "An import is already waiting or running" in second.content.decode()
    assert HelpCenterImport.objects.count() == 1
    # While it waits the page polls the runs' list.
    assert 'hx-trigger="every 2s"' in client.get("/knowledge/import/runs/").content.decode()


def test_a_live_import_calls_only_zendesk_and_forgets_the_token(
    admin_user: Any,
    api_server: str,  # noqa: F811
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.HELP_CENTER_IMPORT_ADDRESSES = {"zendesk": api_server, "helpscout": api_server}
    _zendesk_api_answers(api_server, attachment_answer=PNG)
    client = signed_in_client(admin_user)
    form = {"source": "zendesk", "email": "admin@acme.com", "secret": "s3cret-token"}

    # The address is built from the subdomain: a full address elsewhere is refused.
    refused = client.post("/knowledge/import/", {**form, "subdomain": "https://169.254.169.254/"})
    assert refused.status_code == 422 and "Zendesk subdomain" in refused.content.decode()
    assert "s3cret-token" not in refused.content.decode()  # never sent back
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/knowledge/import/", {**form, "subdomain": "https://acme.zendesk.com/hc"})

    run = HelpCenterImport.objects.get()
    assert (run.status, run.subdomain, run.api_secret) == ("done", "acme", "")
    assert Article.objects.filter(imported_from__startswith="zendesk:article:").count() == 6
    expected = "Basic " + base64.b64encode(b"admin@acme.com/token:s3cret-token").decode()
    assert _Api.authorizations and set(_Api.authorizations) == {expected}
    assert "acme.zendesk.com (live)" in client.get("/knowledge/import/").content.decode()


def test_a_run_is_done_once_and_a_stale_run_does_not_block_the_next(admin_user: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    run = HelpCenterImport.objects.create(source="zendesk", created_by=admin_user)
    HelpCenterImport.objects.filter(pk=run.pk).update(status=ImportStatus.DONE)
    imports.run_import(run.pk)  # not queued any more: nothing happens
    run.refresh_from_db()
    assert run.status == "done" and run.started_at is None

    HelpCenterImport.objects.filter(pk=run.pk).update(
        status=ImportStatus.RUNNING, started_at=timezone.now() - timedelta(hours=3)
    )
    second = _upload(signed_in_client(admin_user), _zip(zendesk_payloads()), dry_run=True)

    assert second.status_code == 302
    run.refresh_from_db()
    assert run.status == "failed" and "stopped without finishing" in run.error


def test_images_saved_in_the_export_are_copied_to_the_articles_that_show_them(
    admin_user: Any,
) -> None:
    export = _zip(
        zendesk_payloads(),
        extra={"zendesk-export/hc/article_attachments/9/invoice.png": PNG},  # its old path
    )

    report = imports.import_zendesk(
        actor=admin_user, source=imports.ArchiveSource("export.zip", io.BytesIO(export))
    )

    invoice = Article.objects.get(imported_from="zendesk:article:400")
    (image,) = invoice.attachments.all()
    assert (image.filename, image.file.read()) == ("invoice.png", PNG)
    body = invoice.translations.get(locale="en").body_source
    assert f"](/portal/help/files/{image.pk}/invoice.png)" in body
    assert (report.files, report.external_images) == (1, 0)


def test_an_image_name_two_files_share_is_not_guessed(admin_user: Any) -> None:
    export = _zip(
        zendesk_payloads(),
        extra={"images/a/invoice.png": PNG, "images/b/invoice.png": PNG},  # not its old path
    )

    report = imports.import_zendesk(
        actor=admin_user, source=imports.ArchiveSource("export.zip", io.BytesIO(export))
    )

    assert not Article.objects.get(imported_from="zendesk:article:400").attachments.exists()
    assert (report.files, report.external_images) == (0, 1)


def test_a_running_import_shows_how_far_it_got(
    admin_user: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    told: list[str] = []
    imports.import_zendesk(
        actor=admin_user,
        source=imports.ArchiveSource("export.zip", io.BytesIO(_zip(zendesk_payloads()))),
        dry_run=True,
        progress=told.append,
    )
    assert told[0] == "1 of 7 articles checked" and told[-1] == "7 of 7 articles checked"

    # The page reads it while the run goes on (a check's own writes are rolled back).
    monkeypatch.setattr(imports, "PROGRESS_EVERY_SECONDS", 0)
    run = HelpCenterImport.objects.create(
        source="zendesk", created_by=admin_user, status=ImportStatus.RUNNING
    )
    imports._progress_of(run.pk)("3 of 7 articles imported")
    runs = signed_in_client(admin_user).get("/knowledge/import/runs/").content.decode()
    assert "3 of 7 articles imported" in runs and 'hx-trigger="every 2s"' in runs
