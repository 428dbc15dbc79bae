from django.contrib import admin

from concierge.core.models import IdempotencyRecord, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["key", "endpoint", "user", "status_code", "created_at"]
    readonly_fields = ["response_body"]
