"""The customer portal under /portal/."""

from django.urls import path

from concierge.portal import help_views, views

app_name = "portal"

# The public help center (knowledge base): anyone may read published articles.
help_center_urls = [
    path("help/", help_views.help_home, name="help_home"),
    path("help/search/", help_views.help_search, name="help_search"),
    path("help/suggest/", help_views.help_suggest, name="help_suggest"),
    path("help/events/", help_views.help_event, name="help_event"),
    path("help/theme.css", help_views.help_theme, name="help_theme"),
    path("help/logo/<str:filename>", help_views.help_logo, name="help_logo"),
    path("help/sitemap.xml", help_views.help_sitemap, name="help_sitemap"),
    path(
        "help/categories/<int:category_id>-<slug:slug>/",
        help_views.help_category,
        name="help_category",
    ),
    path(
        "help/sections/<int:section_id>-<slug:slug>/", help_views.help_section, name="help_section"
    ),
    path(
        "help/articles/<int:article_id>/", help_views.help_article_by_id, name="help_article_by_id"
    ),
    path(
        "help/articles/<int:article_id>-<slug:slug>/", help_views.help_article, name="help_article"
    ),
    path("help/articles/<int:article_id>/vote/", help_views.help_vote, name="help_vote"),
    path(
        "help/articles/<int:article_id>/follow/",
        help_views.help_article_follow,
        name="help_article_follow",
    ),
    path(
        "help/sections/<int:section_id>/follow/",
        help_views.help_section_follow,
        name="help_section_follow",
    ),
    path("help/following/", help_views.help_following, name="help_following"),
    path("help/unfollow/<str:token>/", help_views.help_unfollow, name="help_unfollow"),
    path("help/files/<int:file_id>/<str:filename>", help_views.help_file, name="help_file"),
]

urlpatterns = [
    *help_center_urls,
    path("", views.home, name="home"),
    path("signup/", views.sign_up, name="signup"),
    path("confirm/sent/", views.confirm_sent, name="confirm_sent"),
    path("confirm/resend/", views.confirm_resend, name="confirm_resend"),
    path("confirm/<str:token>/", views.confirm_email, name="confirm_email"),
    path("login/", views.sign_in, name="login"),
    path("logout/", views.sign_out, name="logout"),
    path("magic-link/", views.magic_link_request, name="magic_link"),
    path("magic-link/sent/", views.magic_link_sent, name="magic_link_sent"),
    path("magic-link/<str:token>/", views.magic_link_confirm, name="magic_link_confirm"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("requests/", views.request_list, name="request_list"),
    path("requests/new/", views.request_new, name="request_new"),
    path("requests/<int:ticket_id>/", views.request_detail, name="request_detail"),
    path("requests/<int:ticket_id>/reply/", views.request_reply, name="request_reply"),
    path("requests/<int:ticket_id>/solve/", views.request_mark_solved, name="request_solve"),
    path(
        "requests/<int:ticket_id>/follow-up/",
        views.request_follow_up,
        name="request_follow_up",
    ),
]
