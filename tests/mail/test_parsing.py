from __future__ import annotations

import base64

from concierge.mail.parsing import display_html, html_to_text, parse_message

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_multipart_alternative_gives_text_and_html() -> None:
    raw = (
        b"From: Ann <ann@example.com>\r\nTo: help@acme.test\r\nSubject: Hi\r\n"
        b"Message-ID: <alt@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain version\r\n"
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML <b>version</b></p>\r\n"
        b"--b--\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.text == "Plain version"
    assert "<b>version</b>" in parsed.html
    assert parsed.message_id == "alt@example.com"
    assert (parsed.from_address, parsed.from_name) == ("ann@example.com", "Ann")
    assert parsed.attachments == []


def test_html_only_message_derives_text_with_quotes() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{}</style></head><body><p>Thanks!</p>"
        b"<blockquote>Old text</blockquote><script>alert(1)</script></body></html>"
    )
    parsed = parse_message(raw)
    assert parsed.text_from_html
    assert parsed.text == "Thanks!\n\n> Old text"


def test_nested_rfc822_is_attached_as_eml_and_its_text_included() -> None:
    inner = (
        b"From: Bob <bob@vendor.test>\r\nTo: ann@example.com\r\nSubject: Invoice 42\r\n"
        b"Date: Mon, 02 Jun 2025 09:00:00 +0000\r\n\r\nPlease pay invoice 42.\r\n"
    )
    raw = (
        b"From: ann@example.com\r\nTo: help@acme.test\r\nSubject: Fwd: Invoice 42\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n'
        b"--m\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
        b"--m\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--m--\r\n"
    )
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.attachments] == ["Invoice 42.eml"]
    assert parsed.attachments[0].content_type == "message/rfc822"
    assert b"Please pay invoice 42." in parsed.attachments[0].content
    assert parsed.text.startswith("See below.")
    assert "Forwarded message" in parsed.text
    assert "From: Bob <bob@vendor.test>" in parsed.text
    assert "Please pay invoice 42." in parsed.text


def test_inline_cid_image_is_an_attachment_and_html_points_at_it() -> None:
    raw = (
        b"From: ann@example.com\r\nSubject: Screenshot\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/related; boundary="r"\r\n\r\n'
        b'--r\r\nContent-Type: text/html\r\n\r\n<p>Look: <img src="cid:shot@x" alt="shot">'
        b'<img src="https://tracker.test/pixel.gif" alt=""></p>\r\n'
        b"--r\r\nContent-Type: image/png\r\nContent-ID: <shot@x>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64(PNG).encode() + b"\r\n--r--\r\n"
    )
    parsed = parse_message(raw)
    [image] = parsed.attachments
    assert (image.content_id, image.is_inline, image.content) == ("shot@x", True, PNG)
    html = display_html(parsed.html, {"shot@x": "/attachments/7/"})
    assert '<img src="/attachments/7/" alt="shot">' in html
    assert "tracker.test" not in html


def test_remote_images_are_replaced_by_alt_text() -> None:
    html = display_html('<p>Hi <img src="http://evil.test/t.png" alt="logo"></p><script>x</script>')
    assert html == "<p>Hi [logo]</p>"


def test_rfc2231_and_rfc2047_filenames_are_decoded() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="f"\r\n\r\n'
        b"--f\r\nContent-Type: text/plain\r\n\r\nTwo files\r\n"
        b"--f\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=UTF-8''R%C3%A9sum%C3%A9%20final.pdf\r\n\r\n"
        b"%PDF\r\n"
        b'--f\r\nContent-Type: text/plain; name="=?ISO-8859-1?Q?K=F6ln.txt?="\r\n'
        b'Content-Disposition: attachment; filename="=?ISO-8859-1?Q?K=F6ln.txt?="\r\n\r\n'
        b"Dom\r\n--f--\r\n"
    )
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.attachments] == ["Résumé final.pdf", "Köln.txt"]
    assert parsed.text == "Two files"


def test_wrong_or_unknown_charset_falls_back_without_crashing() -> None:
    raw = (
        b"From: =?x-unknown?Q?J=F6rg?= <jorg@example.com>\r\nSubject: =?utf-8?B?invalid!?=\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\nCaf\xe9 cr\xe8me \x80 price\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.text == "Café crème € price"
    assert parsed.from_address == "jorg@example.com"
    assert any("read as cp1252" in defect for defect in parsed.defects)


def test_declared_legacy_charset_is_used() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: =?koi8-r?B?8NLJ18XU?=\r\n"
        b"Content-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n"
    )
    parsed = parse_message(raw)
    assert (parsed.subject, parsed.text) == ("Привет", "Привет")


def test_malformed_headers_never_raise() -> None:
    raw = (
        b"From: <<<broken@@\r\nTo: ;;;\r\nSubject: \xff\xfe odd\r\nDate: yesterday-ish\r\n"
        b"Message-ID: no brackets here\r\nContent-Type: multipart/mixed\r\n\r\nno boundary at all"
    )
    parsed = parse_message(raw)
    assert parsed.from_address == ""
    assert "no readable From address" in parsed.defects
    assert "unreadable Date header" in parsed.defects
    assert parsed.date is None


def test_uuencoded_attachment_in_body_is_extracted() -> None:
    import binascii

    line = binascii.b2a_uu(b"hello uu").decode()
    raw = (
        "From: a@example.com\r\nSubject: old client\r\n\r\nSee file.\r\n\r\n"
        f"begin 644 note.txt\r\n{line}`\r\nend\r\n"
    ).encode()
    parsed = parse_message(raw)
    assert [(a.filename, a.content) for a in parsed.attachments] == [("note.txt", b"hello uu")]
    assert parsed.text.strip() == "See file."


def test_html_to_text_keeps_lines_and_lists() -> None:
    text = html_to_text("<div>One<br>Two</div><ul><li>a</li><li>b</li></ul>")
    assert text == "One\nTwo\n\n- a\n- b"
