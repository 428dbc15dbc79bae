"""URL map of the agent workspace (mounted at the site root)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, path, reverse_lazy

from concierge.workspace import (
    ai_views,
    automation_views,
    chat_views,
    forms,
    knowledge_views,
    mail_views,
    settings_views,
    views,
)

app_name = "workspace"

password_reset_urls = [
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            form_class=forms.StaffPasswordResetForm,
            template_name="workspace/password_reset_form.html",
            email_template_name="workspace/email/password_reset.txt",
            subject_template_name="workspace/email/password_reset_subject.txt",
            success_url=reverse_lazy("workspace:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(
            template_name="workspace/password_reset_done.html"
        ),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="workspace/password_reset_confirm.html",
            success_url=reverse_lazy("workspace:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="workspace/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
]

settings_urls = [
    path("settings/", settings_views.settings_home, name="settings"),
    path("settings/agents/", settings_views.agents, name="settings_agents"),
    path(
        "settings/agents/<int:agent_id>/", settings_views.agent_update, name="settings_agent_update"
    ),
    path("settings/teams/", settings_views.teams, name="settings_teams"),
    path("settings/teams/<int:team_id>/", settings_views.teams, name="settings_team"),
    path(
        "settings/teams/<int:team_id>/delete/",
        settings_views.team_delete,
        name="settings_team_delete",
    ),
    path("settings/fields/", settings_views.fields, name="settings_fields"),
    path("settings/fields/new/", settings_views.field_edit, name="settings_field_new"),
    path("settings/fields/<int:field_id>/", settings_views.field_edit, name="settings_field"),
    path(
        "settings/fields/<int:field_id>/delete/",
        settings_views.field_delete,
        name="settings_field_delete",
    ),
    path("settings/views/", settings_views.views, name="settings_views"),
    path("settings/views/new/", settings_views.view_edit, name="settings_view_new"),
    path("settings/views/<int:view_id>/", settings_views.view_edit, name="settings_view"),
    path(
        "settings/views/<int:view_id>/delete/",
        settings_views.view_delete,
        name="settings_view_delete",
    ),
    path("settings/organizations/", settings_views.organizations, name="settings_organizations"),
    path(
        "settings/organizations/<int:organization_id>/",
        settings_views.organization_visibility,
        name="settings_organization_visibility",
    ),
]

urlpatterns: list[URLPattern] = [
    path("", views.home, name="home"),
    path("login/", views.sign_in, name="login"),
    path("logout/", views.sign_out, name="logout"),
    *password_reset_urls,
    path("profile/", views.profile, name="profile"),
    path("profile/availability/", views.availability, name="availability"),
    path("profile/tokens/", views.create_token, name="token_create"),
    path("profile/tokens/<int:token_id>/revoke/", views.revoke_token, name="token_revoke"),
    path("avatars/<int:agent_id>/", views.avatar, name="avatar"),
    path("inbox/", views.inbox_default, name="inbox_default"),
    path("inbox/<slug:view_slug>/", views.inbox, name="inbox"),
    path("inbox/<slug:view_slug>/bulk/", views.inbox_bulk, name="inbox_bulk"),
    path("inbox/<slug:view_slug>/save-view/", views.inbox_save_view, name="inbox_save_view"),
    path(
        "inbox/views/<int:view_id>/rename/",
        views.personal_view_rename,
        name="personal_view_rename",
    ),
    path(
        "inbox/views/<int:view_id>/delete/",
        views.personal_view_delete,
        name="personal_view_delete",
    ),
    path("tickets/new/", views.ticket_new, name="ticket_new"),
    path("tickets/<int:ticket_id>/", views.ticket_detail, name="ticket"),
    path("tickets/<int:ticket_id>/entries/", views.ticket_add_entry, name="ticket_add_entry"),
    path("tickets/<int:ticket_id>/properties/", views.ticket_properties, name="ticket_properties"),
    path("tickets/<int:ticket_id>/quick/", views.ticket_quick_action, name="ticket_quick_action"),
    path("attachments/<int:attachment_id>/", views.download_attachment, name="attachment"),
    path("search/", views.search, name="search"),
    path("customers/", views.customer_list, name="customers"),
    path("customers/<int:customer_id>/", views.customer_detail, name="customer"),
    path("customers/<int:customer_id>/edit/", views.customer_edit, name="customer_edit"),
    path("customers/<int:customer_id>/merge/", views.customer_merge, name="customer_merge"),
    path("organizations/", views.organization_list, name="organizations"),
    path("organizations/<int:organization_id>/", views.organization_detail, name="organization"),
    *settings_urls,
    *mail_views.urlpatterns,
    *chat_views.urlpatterns,
    *knowledge_views.urlpatterns,
    *automation_views.urlpatterns,
    *ai_views.urlpatterns,
]
