"""Live chat in the workspace: chat channel settings (admins) and the demo host page.

Admins create channels, copy the embed snippet, and see the identity
secret once (on creation or when they generate a new one). Every decision
is the chat domain's (``concierge.chat.services`` / ``actions``).
"""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_update
from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_http_methods, require_POST

from concierge.accounts import services as account_services
from concierge.automation import services as automation_services
from concierge.chat import actions as chat_actions
from concierge.chat import services as chat_services
from concierge.chat.identity import sign_identity
from concierge.chat.models import ChatChannel
from concierge.core import policy
from concierge.core.errors import ConciergeError, NotFound
from concierge.workspace import forms as workspace_forms
from concierge.workspace.access import error_page, page, settings_required

AVATAR_MAX_BYTES = 1024 * 1024


class ChatChannelForm(workspace_forms.WorkspaceForm):
    """Parses the channel page; ``chat.actions.save_channel`` validates."""

    name = forms.CharField(max_length=100)
    is_active = forms.BooleanField(required=False, label="Active")
    allowed_origins = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One per line, e.g. https://www.example.com or https://*.example.com.",
    )
    title = forms.CharField(max_length=80)
    greeting = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    offline_message = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    primary_color = forms.CharField(
        max_length=7, widget=forms.TextInput(attrs={"type": "color"}), label="Main colour"
    )
    text_color = forms.CharField(
        max_length=7, widget=forms.TextInput(attrs={"type": "color"}), label="Text on main colour"
    )
    avatar = forms.ImageField(required=False, help_text="PNG, JPEG, GIF or WebP, at most 1 MB.")
    language = forms.CharField(max_length=16)
    team = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    business_hours = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    pre_chat_form = forms.BooleanField(required=False, label="Ask for name and email first")
    require_identity = forms.BooleanField(
        required=False, label="Only visitors identified by the host site (HMAC)"
    )
    idle_timeout_minutes = forms.IntegerField(
        min_value=0, label="End idle chats after (minutes, 0 = never)"
    )

    def __init__(self, *args: Any, teams: list[Any], hours: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teams = {team.pk: team for team in teams}
        self.hours = {item.pk: item for item in hours}
        workspace_forms.set_choices(
            self, "team", [("", "Any team"), *((t.pk, t.name) for t in teams)]
        )
        workspace_forms.set_choices(
            self, "business_hours", [("", "Always open"), *((h.pk, h.name) for h in hours)]
        )

    @staticmethod
    def initial_from(channel: ChatChannel | None) -> dict[str, Any]:
        channel = channel or ChatChannel()
        return {
            "name": channel.name,
            "is_active": channel.is_active,
            "allowed_origins": "\n".join(channel.allowed_origins or []),
            "title": channel.title,
            "greeting": channel.greeting,
            "offline_message": channel.offline_message,
            "primary_color": channel.primary_color,
            "text_color": channel.text_color,
            "language": channel.language,
            "team": channel.team_id,
            "business_hours": channel.business_hours_id,
            "pre_chat_form": channel.pre_chat_form,
            "require_identity": channel.require_identity,
            "idle_timeout_minutes": channel.idle_timeout_minutes,
        }

    def clean_avatar(self) -> Any:
        avatar = self.cleaned_data.get("avatar")
        if avatar and avatar.size > AVATAR_MAX_BYTES:
            raise forms.ValidationError("The picture is over 1 MB.")
        return avatar

    def changes(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["allowed_origins"] = [
            line.strip() for line in data["allowed_origins"].splitlines() if line.strip()
        ]
        data["team"] = self.teams.get(data["team"]) if data["team"] else None
        data["business_hours"] = (
            self.hours.get(data["business_hours"]) if data["business_hours"] else None
        )
        if not data.get("avatar"):
            data.pop("avatar", None)
        return data


def embed_snippet(request: HttpRequest, channel: ChatChannel) -> str:
    script = request.build_absolute_uri("/static/concierge/widget.js")
    return f'<script src="{script}" data-concierge-key="{channel.public_key}" async></script>'


def _form(request: HttpRequest, channel: ChatChannel | None) -> ChatChannelForm:
    user = request.user
    return ChatChannelForm(
        request.POST or None,
        request.FILES or None,
        initial=ChatChannelForm.initial_from(channel),
        teams=list(account_services.list_teams(user=user)),
        hours=list(automation_services.list_business_hours(user=user)),
    )


def _secret_page(request: HttpRequest, channel: ChatChannel, *, created: bool) -> HttpResponse:
    # Rendered, not redirected: the secret must never sit in a session or a URL.
    response = page(
        request,
        "workspace/chat/channel_secret.html",
        {
            "channel": channel,
            "created": created,
            "secret": channel.identity_secret,
            "snippet": embed_snippet(request, channel),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@settings_required
def channels(request: HttpRequest) -> HttpResponse:
    rows = [
        (channel, chat_services.channel_state(channel))
        for channel in chat_services.list_channels(user=request.user)
    ]
    return page(request, "workspace/chat/channels.html", {"rows": rows})


@settings_required
@require_http_methods(["GET", "POST"])
def channel_edit(request: HttpRequest, channel_id: int | None = None) -> HttpResponse:
    user = request.user
    channel = chat_services.get_channel(user=user, channel_id=channel_id) if channel_id else None
    form = _form(request, channel)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                saved = chat_actions.save_channel(
                    actor=user, changes=form.changes(), channel=channel
                )
            except ConciergeError as error:
                workspace_forms.apply_error(form, error)
                status = error.status
            else:
                if channel is None:
                    return _secret_page(request, saved, created=True)
                messages.success(request, f"Chat channel {saved.name} saved.")
                return redirect("workspace:settings_chat_channel", channel_id=saved.pk)
    context = {
        "form": form,
        "channel": channel,
        "snippet": embed_snippet(request, channel) if channel else "",
        "state": chat_services.channel_state(channel) if channel else None,
    }
    return page(request, "workspace/chat/channel_form.html", context, status=status)


@settings_required
@require_POST
def channel_regenerate_secret(request: HttpRequest, channel_id: int) -> HttpResponse:
    user = request.user
    channel = chat_services.get_channel(user=user, channel_id=channel_id)
    channel = chat_actions.regenerate_identity_secret(actor=user, channel=channel)
    return _secret_page(request, channel, created=False)


# --- the demo host page: a page of "another site" embedding the widget ----------------------


def _site_origin() -> str:
    return settings.SITE_URL.rstrip("/")


@csp_update(
    {
        # The widget comes from the Concierge server (SITE_URL), which may be
        # another origin than this page: the same lines a customer adds to
        # their own site's policy.
        "script-src": [_site_origin()],
        "style-src": [_site_origin()],
        "img-src": [_site_origin()],
        "connect-src": [_site_origin(), _site_origin().replace("http", "ws", 1)],
    }
)
def demo_host(request: HttpRequest) -> HttpResponseBase:
    """A sample shop page with the widget, for demos and browser tests (admins or DEBUG).

    ``?identify=1`` also signs in a sample user with the channel's secret,
    the way a host's server would.
    """
    if not (settings.DEBUG or policy.can_manage_chat_channels(request.user)):
        return error_page(request, NotFound("No such page."))
    channel = ChatChannel.objects.filter(is_active=True).order_by("pk").first()
    if channel is None:
        return render(request, "workspace/chat/demo_host.html", {"channel": None})
    identity: dict[str, str] = {}
    if request.GET.get("identify"):
        user_id, email = "demo-user-1", "demo.visitor@example.com"
        identity = {
            "user_id": user_id,
            "email": email,
            "name": "Demo Visitor",
            "signature": sign_identity(channel.identity_secret, user_id=user_id, email=email),
        }
    context = {
        "channel": channel,
        "widget_src": f"{_site_origin()}/static/concierge/widget.js",
        "identity": identity,
    }
    return render(request, "workspace/chat/demo_host.html", context)


urlpatterns: list[URLPattern] = [
    path("settings/chat/", channels, name="settings_chat"),
    path("settings/chat/new/", channel_edit, name="settings_chat_channel_new"),
    path("settings/chat/<int:channel_id>/", channel_edit, name="settings_chat_channel"),
    path(
        "settings/chat/<int:channel_id>/secret/",
        channel_regenerate_secret,
        name="settings_chat_channel_secret",
    ),
    path("chat/demo-host/", demo_host, name="chat_demo_host"),
]
