from django.contrib import admin

from concierge.accounts.models import ApiToken, Team, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "role", "availability", "capacity", "is_active"]
    list_filter = ["role", "availability", "is_active"]
    search_fields = ["email", "name"]
    exclude = ["password", "user_permissions", "groups"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name"]
    filter_horizontal = ["members"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["token_hash", "prefix"]
