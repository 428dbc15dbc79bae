from django.contrib import admin

from concierge.tickets.models import Attachment, AuditEvent, CustomField, Entry, SavedView, Ticket


class EntryInline(admin.StackedInline):
    model = Entry
    extra = 0
    fields = ["kind", "author_user", "author_customer", "body_source", "channel", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["author_user", "author_customer"]


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "subject",
        "status",
        "priority",
        "channel",
        "requester",
        "assignee",
        "team",
        "updated_at",
    ]
    list_filter = ["status", "priority", "channel", "team"]
    search_fields = ["id", "subject"]
    raw_id_fields = ["requester", "organization", "assignee", "merged_into", "follow_up_of", "ccs"]
    inlines = [EntryInline]


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    list_display = ["id", "ticket", "kind", "channel", "created_at"]
    list_filter = ["kind", "channel"]
    raw_id_fields = ["ticket", "author_user", "author_customer"]


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["filename", "content_type", "size", "entry"]
    raw_id_fields = ["entry"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["ticket", "field", "before", "after", "actor", "via", "created_at"]
    list_filter = ["field", "via"]
    raw_id_fields = ["ticket", "actor", "actor_customer"]


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    list_display = [
        "label",
        "key",
        "field_type",
        "is_required_on_solve",
        "is_customer_visible",
        "is_active",
    ]


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "sort", "position"]
