"""HTTP endpoints of the chat widget, under ``/widget/`` (CORS for each channel's origins).

The widget runs on customers' sites, so these are cross-origin calls made
without cookies: the channel is named by its public key in the path, the
visitor by the token the widget keeps (``X-Concierge-Visitor`` header), and
a request from an origin the channel does not list is refused (403) and
gets no CORS headers, so the browser also hides the answer from the page.

Routes (JSON answers; errors are ``{"code", "message", "field_errors"}``):

* ``GET  <key>/config/``      looks, texts, online / within business hours
* ``POST <key>/session/``     start or resume: ``{"identity"?, "name"?, "attributes"?}``
                              -> ``{"token", "visitor", "conversations", "config"}``
* ``POST <key>/visitor/``     pre-chat form / ``setAttributes``: ``{"name", "email", "attributes"}``
* ``POST <key>/messages/``    ``{"ticket_id"?, "body", "page_url"?}`` (the socket is the fast path)
* ``POST <key>/upload/``      multipart: ``file`` (one or more), ``ticket_id``?, ``body``?
* ``POST <key>/offline/``     ``{"name", "email", "body"}`` -> an email ticket
* ``POST <key>/transcript/``  ``{"ticket_id", "email"?}``
* ``POST <key>/end/``         ``{"ticket_id"}``
* ``GET  <key>/suggestions/?q=&lang=``  help articles for what the visitor is typing,
                              before a chat exists -> ``{"locale", "articles": [{"id",
                              "title", "snippet", "url"}]}`` (recorded as suggestions shown)
* ``GET  <key>/articles/<id>/?lang=&via=suggestion``  one published article to read in the
                              widget (public; for signed-in customers too when the host
                              site identified the visitor)
                              -> ``{"id", "title", "body_html", "url"}`` (recorded as a
                              suggestion click and a view)
* ``GET  <key>/avatar/``, ``agents/<id>/avatar/``, ``files/<signed>/``,
  ``help-files/<signed>/``: images and files
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import path, reverse
from django.utils.html import strip_tags
from django.views.decorators.csrf import csrf_exempt

from concierge.accounts.models import STAFF_ROLES, User
from concierge.chat import actions as chat_actions
from concierge.chat import services as chat_services
from concierge.chat.models import ChatChannel, ChatVisitor
from concierge.core.errors import ConciergeError, NotFound, PermissionDenied, ValidationFailed
from concierge.knowledge.models import Article, EventKind
from concierge.tickets.actions import NewAttachment

JSON_BODY_MAX_BYTES = 64 * 1024
SAFE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
VISITOR_HEADER = "X-Concierge-Visitor"
IDLE_SWEEP_EVERY_SECONDS = 60
# Live suggestions follow typing (the widget waits for a pause): a minute's
# bound per visitor keeps the search index from being used as a free API.
SUGGESTIONS_PER_MINUTE = 30
SUGGESTION_TEXT_MAX_CHARS = 500
SNIPPET_MAX_CHARS = 160
# Root-relative links and images in an article body, made absolute for the host page.
RELATIVE_URL = re.compile(r'(\s(?:href|src)=")/(?!/)')

app_name = "widget"

Handler = Callable[..., HttpResponseBase]


def _error(error: ConciergeError) -> JsonResponse:
    return JsonResponse(error.as_dict(), status=error.status)


def _cors(response: HttpResponseBase, origin: str) -> HttpResponseBase:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = f"Content-Type, {VISITOR_HEADER}"
    response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    response["Cache-Control"] = "no-store"
    return response


def _sweep_idle_chats() -> None:
    """Ends idle chats at most once a minute per cache, on the back of widget traffic.

    ``manage close_idle_chats`` does the same on a schedule; this keeps a
    laptop demo (no scheduler) honest too.
    """
    if cache.add("chat:idle-sweep", 1, timeout=IDLE_SWEEP_EVERY_SECONDS):
        from concierge.chat import tasks

        tasks.close_idle_chats.enqueue()


def _page_origin(request: HttpRequest) -> str:
    """The origin of the page that embeds the widget.

    Browsers omit ``Origin`` on same-origin GET requests (the Fetch standard)
    and say so with ``Sec-Fetch-Site: same-origin``, a header pages cannot set;
    the page is then on this server's own origin (its host checked by
    ALLOWED_HOSTS), which the channel must still list.
    """
    origin = request.headers.get("Origin", "")
    if not origin and request.headers.get("Sec-Fetch-Site") == "same-origin":
        origin = f"{request.scheme}://{request.get_host()}"
    return origin


def channel_endpoint(*, methods: tuple[str, ...]) -> Callable[[Handler], Handler]:
    """A widget endpoint: the channel from the key, the origin checked, CORS, JSON errors."""

    def decorate(view: Handler) -> Handler:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, public_key: str, **kwargs: Any) -> HttpResponseBase:
            origin = _page_origin(request)
            try:
                channel = chat_services.get_active_channel(public_key=public_key)
            except NotFound as error:
                return _error(error)
            if not chat_services.origin_allowed(channel, origin):
                return _error(
                    PermissionDenied(
                        f"This chat is not enabled on {origin or 'pages without an Origin'}: "
                        "add the site's origin to the channel's allowed origins."
                    )
                )
            if request.method == "OPTIONS":
                return _cors(HttpResponse(status=204), origin)
            if request.method not in methods:
                refused = JsonResponse(
                    {"code": "method_not_allowed", "message": f"Use {', '.join(methods)}."},
                    status=405,
                )
                return _cors(refused, origin)
            try:
                response = view(request, channel, **kwargs)
            except ConciergeError as error:
                response = _error(error)
            return _cors(response, origin)

        return wrapper

    return decorate


def _json(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > JSON_BODY_MAX_BYTES:
        raise chat_actions.LimitExceeded(
            f"The request is {len(request.body)} bytes; the limit is {JSON_BODY_MAX_BYTES}."
        )
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except ValueError as error:
        raise ValidationFailed("The request body is not valid JSON.") from error
    if not isinstance(data, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    return data


def _visitor(request: HttpRequest, channel: ChatChannel) -> ChatVisitor:
    token = request.headers.get(VISITOR_HEADER, "")
    visitor = chat_services.visitor_for_token(channel=channel, token=token)
    if visitor is None:
        raise PermissionDenied("This chat session is not valid any more; start a new one.")
    return visitor


def _ticket_id(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        ticket_id = int(value)
    except (TypeError, ValueError) as error:
        raise ValidationFailed("ticket_id must be a number.") from error
    return ticket_id


def _client_key(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", "unknown"))


# --- endpoints ------------------------------------------------------------------------


@channel_endpoint(methods=("GET",))
def config(request: HttpRequest, channel: ChatChannel) -> HttpResponse:
    _sweep_idle_chats()
    return JsonResponse(chat_services.widget_config(channel))


@channel_endpoint(methods=("POST",))
def session(request: HttpRequest, channel: ChatChannel) -> HttpResponse:
    data = _json(request)
    token = request.headers.get(VISITOR_HEADER, "")
    if not chat_services.visitor_for_token(channel=channel, token=token):
        # New visitors cost a customer record each: bounded per address.
        chat_actions.check_rate(
            _client_key(request),
            kind="start",
            limit=settings.CHAT_NEW_VISITORS_PER_ADDRESS,
            window=60,
        )
    identity = data.get("identity") or None
    if identity is not None and not isinstance(identity, dict):
        raise ValidationFailed("identity must be an object with user_id, email, name, signature.")
    visitor, token = chat_actions.start_visitor(
        channel=channel,
        token=token,
        identity=identity,
        name=str(data.get("name") or ""),
        attributes=data.get("attributes") or None,
    )
    history = chat_services.visitor_history(visitor=visitor)
    return JsonResponse({"token": token, **history, "config": chat_services.widget_config(channel)})


@channel_endpoint(methods=("POST",))
def visitor_details(request: HttpRequest, channel: ChatChannel) -> HttpResponse:
    data = _json(request)
    visitor = chat_actions.update_visitor_details(
        visitor=_visitor(request, channel),
        name=str(data.get("name") or ""),
        email=str(data.get("email") or ""),
        attributes=data.get("attributes") or None,
    )
    return JsonResponse({"name": visitor.name, "email": visitor.email})


@channel_endpoint(methods=("POST",))
def messages(request: HttpRequest, channel: ChatChannel) -> HttpResponse:
    data = _json(request)
    visitor = _visitor(request, channel)
    conversation, entry = chat_actions.send_visitor_message(
        visitor=visitor,
        body=str(data.get("body") or ""),
        ticket_id=_ticket_id(data.get("ticket_id")),
        page_url=str(data.get("page_url") or ""),
    )
    return JsonResponse(
        {
            "ticket_id": conversation.ticket_id,
            "entry": chat_services.entry_payload(entry, visitor=visitor),
        },
        status=201,
    )


@channel_endpoint(methods=("POST",))
def upload(request: HttpRequest, channel: ChatChannel) -> HttpResponse:
    visitor = _visitor(request, channel)
    files = request.FILES.getlist("file")
    if not files:
        raise ValidationFailed("Choose a file to send.", field_errors={"file": ["Required."]})
    attachments = [
        NewAttachment(
            filename=upload.name or "file",
            content=upload.read(),
            content_type=upload.content_type or "",
        )
        for upload in files
    ]
    conversation, entry = chat_actions.send_visitor_message(
        visitor=visitor,
        body=str(request.POST.get("body") or ""),
        ticket_id=_ticket_id(request.POST.get("ticket_id")),
        attachments=attachments,
        page_url=str(request.POST.get("page_url") or ""),
    )
    return JsonResponse(
        {
            "ticket_id": conversation.ticket_id,
            "entry": chat_services.entry_payload(entry, visitor=visitor),
        },
        status=201,
    )


@channel_endpoint(methods=("POST",))
def offline(request: HttpRequest, channel: ChatChannel) -> HttpResponse:
    data = _json(request)
    token = request.headers.get(VISITOR_HEADER, "")
    visitor = chat_services.visitor_for_token(channel=channel, token=token) if token else None
    ticket = chat_actions.leave_offline_message(
        channel=channel,
        email=str(data.get("email") or ""),
        name=str(data.get("name") or ""),
        body=str(data.get("body") or ""),
        visitor=visitor,
        page_url=str(data.get("page_url") or ""),
    )
    # The ticket number is enough to quote in a follow-up; nothing of the customer record.
    return JsonResponse({"ticket_id": ticket.pk, "email": data.get("email", "")}, status=201)


@channel_endpoint(methods=("POST",))
def transcript(request: HttpRequest, channel: ChatChannel) -> HttpResponse:
    data = _json(request)
    ticket_id = _ticket_id(data.get("ticket_id"))
    if ticket_id is None:
        raise ValidationFailed("Which chat?", field_errors={"ticket_id": ["Required."]})
    email = chat_actions.request_transcript(
        visitor=_visitor(request, channel), ticket_id=ticket_id, email=str(data.get("email") or "")
    )
    return JsonResponse({"email": email}, status=202)


@channel_endpoint(methods=("POST",))
def end(request: HttpRequest, channel: ChatChannel) -> HttpResponse:
    data = _json(request)
    ticket_id = _ticket_id(data.get("ticket_id"))
    if ticket_id is None:
        raise ValidationFailed("Which chat?", field_errors={"ticket_id": ["Required."]})
    conversation = chat_actions.end_conversation(
        visitor=_visitor(request, channel), ticket_id=ticket_id
    )
    return JsonResponse({"ticket_id": conversation.ticket_id, "status": conversation.status})


def _help_locale(request: HttpRequest, channel: ChatChannel) -> str:
    return chat_services.visitor_help_locale(
        channel=channel,
        requested=request.GET.get("lang", "")[:16],
        accept_language=request.headers.get("Accept-Language", ""),
    )


def _article_address(request: HttpRequest, article: Article, locale: str) -> str:
    """The article's page in the help center (absolute: the widget runs on another site)."""
    text = article.text  # type: ignore[attr-defined]
    path_ = reverse("portal:help_article", kwargs={"article_id": article.pk, "slug": text.slug})
    return request.build_absolute_uri(f"{path_}?lang={text.locale}")


@channel_endpoint(methods=("GET",))
def suggestions(request: HttpRequest, channel: ChatChannel) -> HttpResponse:
    visitor = _visitor(request, channel)
    chat_actions.check_rate(visitor.pk, kind="suggest", limit=SUGGESTIONS_PER_MINUTE, window=60)
    locale = _help_locale(request, channel)
    text = request.GET.get("q", "")[:SUGGESTION_TEXT_MAX_CHARS]
    hits = chat_services.help_suggestions(visitor=visitor, text=text, locale=locale)
    chat_actions.record_help_event(
        visitor=visitor,
        kind=EventKind.SUGGESTION_SHOWN,
        article_ids=[hit.article.pk for hit in hits],
        locale=locale,
        client_address=_client_key(request),
    )
    articles = [
        {
            "id": hit.article.pk,
            "title": hit.article.text.title,  # type: ignore[attr-defined]
            "snippet": " ".join(strip_tags(hit.snippet_html).split())[:SNIPPET_MAX_CHARS],
            "url": _article_address(request, hit.article, locale),
        }
        for hit in hits
    ]
    return JsonResponse({"locale": locale, "articles": articles})


def _signed_help_files(body_html: str, visitor: ChatVisitor) -> str:
    """``body_html`` with its help center file addresses signed for ``visitor``.

    An article for signed-in customers serves its images and files only to a
    portal session, which the host site's page does not carry.
    """
    prefix = reverse("portal:help_file", kwargs={"file_id": 0, "filename": "f"})[: -len("0/f")]
    pattern = re.compile(rf'(\s(?:href|src)="){re.escape(prefix)}(\d+)/[^"]*"')
    return pattern.sub(
        lambda match: (
            f'{match.group(1)}{chat_services.help_file_link(int(match.group(2)), visitor.pk)}"'
        ),
        body_html,
    )


@channel_endpoint(methods=("GET",))
def article(request: HttpRequest, channel: ChatChannel, article_id: int) -> HttpResponse:
    visitor = _visitor(request, channel)
    chat_actions.check_rate(visitor.pk, kind="suggest", limit=SUGGESTIONS_PER_MINUTE, window=60)
    locale = _help_locale(request, channel)
    found = chat_services.help_article(visitor=visitor, article_id=article_id, locale=locale)
    if request.GET.get("via") == "suggestion":
        chat_actions.record_help_event(
            visitor=visitor,
            kind=EventKind.SUGGESTION_CLICK,
            article_ids=[found.pk],
            locale=locale,
            client_address=_client_key(request),
        )
    text = found.text  # type: ignore[attr-defined]
    body_html = text.body_html
    if not found.is_public:
        body_html = _signed_help_files(body_html, visitor)
    base = request.build_absolute_uri("/")[:-1]
    return JsonResponse(
        {
            "id": found.pk,
            "title": text.title,
            # Sanitized when saved (knowledge.content); the widget sanitizes again.
            "body_html": RELATIVE_URL.sub(rf"\1{base}/", body_html),
            "url": _article_address(request, found, locale),
        }
    )


# --- images and files (plain GETs: <img> and <a> tags, no CORS needed) ------------------------


def _image(file: Any) -> HttpResponseBase:
    content_type = mimetypes.guess_type(file.name)[0] or ""
    if content_type not in SAFE_IMAGE_TYPES:
        return _error(NotFound("No image."))
    response = FileResponse(file.open("rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=300"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def channel_avatar(request: HttpRequest, public_key: str) -> HttpResponseBase:
    try:
        channel = chat_services.get_active_channel(public_key=public_key)
    except NotFound as error:
        return _error(error)
    if not channel.avatar:
        return _error(NotFound("No avatar."))
    return _image(channel.avatar)


def agent_avatar(request: HttpRequest, agent_id: int) -> HttpResponseBase:
    """An agent's picture as visitors see it next to their replies."""
    agent = User.objects.filter(pk=agent_id, role__in=STAFF_ROLES, is_active=True).first()
    if agent is None or not agent.avatar:
        return _error(NotFound("No avatar."))
    return _image(agent.avatar)


def _signed_file(find: Callable[[], Any], *, inline: bool = False) -> HttpResponseBase:
    """The file a signed link names (``find`` checks the link): private, sandboxed, and
    readable from the host site's page. ``inline``: a safe image shows in place."""
    try:
        attachment = find()
        handle = attachment.file.open("rb")
    except NotFound as error:
        return _error(error)
    except FileNotFoundError:
        return _error(NotFound("The file is missing from storage."))
    shown_inline = inline and attachment.content_type in SAFE_IMAGE_TYPES
    response = FileResponse(
        handle,
        as_attachment=not shown_inline,
        filename=attachment.filename,
        content_type=attachment.content_type if shown_inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def download(request: HttpRequest, signed: str) -> HttpResponseBase:
    """A file of a visitor's chat, by the signed link the widget got with the message."""
    return _signed_file(lambda: chat_services.attachment_for_link(signed))


def help_file(request: HttpRequest, signed: str) -> HttpResponseBase:
    """An image or file of an article for signed-in customers, by its signed link."""
    return _signed_file(lambda: chat_services.help_file_for_link(signed), inline=True)


urlpatterns = [
    path("<str:public_key>/config/", config, name="config"),
    path("<str:public_key>/session/", session, name="session"),
    path("<str:public_key>/visitor/", visitor_details, name="visitor"),
    path("<str:public_key>/messages/", messages, name="messages"),
    path("<str:public_key>/upload/", upload, name="upload"),
    path("<str:public_key>/offline/", offline, name="offline"),
    path("<str:public_key>/transcript/", transcript, name="transcript"),
    path("<str:public_key>/end/", end, name="end"),
    path("<str:public_key>/suggestions/", suggestions, name="suggestions"),
    path("<str:public_key>/articles/<int:article_id>/", article, name="article"),
    path("<str:public_key>/avatar/", channel_avatar, name="channel_avatar"),
    path("agents/<int:agent_id>/avatar/", agent_avatar, name="agent_avatar"),
    path("files/<str:signed>/", download, name="download"),
    path("help-files/<str:signed>/", help_file, name="help_file"),
]
