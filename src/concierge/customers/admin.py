from django.contrib import admin

from concierge.customers.models import Customer, CustomerIdentity, Organization


class IdentityInline(admin.TabularInline):
    model = CustomerIdentity
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "language", "created_at"]
    search_fields = ["name", "identities__value"]
    list_filter = ["language"]
    inlines = [IdentityInline]
    raw_id_fields = ["organization", "user", "merged_into"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "members_see_all_requests", "created_at"]
    search_fields = ["name"]


@admin.register(CustomerIdentity)
class CustomerIdentityAdmin(admin.ModelAdmin):
    list_display = ["value", "kind", "customer"]
    search_fields = ["value"]
    raw_id_fields = ["customer"]
