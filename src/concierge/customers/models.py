"""The CRM: organizations, customers and the identities that reach us."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from concierge.core.models import Tag, TimestampedModel


class Organization(TimestampedModel):
    name = models.CharField(max_length=200, unique=True)
    domains = models.JSONField(
        default=list,
        blank=True,
        help_text="Email domains whose senders join this organization automatically.",
    )
    notes = models.TextField(blank=True, max_length=10_000)
    custom_attributes = models.JSONField(default=dict, blank=True)
    # Off by default: a customer sees only their own requests unless an admin
    # opens the organization's requests to all its members.
    members_see_all_requests = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(TimestampedModel):
    name = models.CharField(max_length=200)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
        help_text="The sign-in account, when this customer has one.",
    )
    language = models.CharField(max_length=16, blank=True, default="en")
    time_zone = models.CharField(max_length=64, blank=True, default="UTC")
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers")
    custom_attributes = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True, max_length=10_000)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_records"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def primary_email(self) -> str:
        for identity in self.identities.all():
            if identity.kind == IdentityKind.EMAIL:
                return identity.value
        return ""


class IdentityKind(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    TWITTER = "twitter", "X / Twitter"
    FACEBOOK = "facebook", "Facebook"
    WHATSAPP = "whatsapp", "WhatsApp"
    OTHER = "other", "Other"


class CustomerIdentity(models.Model):
    """An address a customer reaches us from; (kind, value) is unique across customers."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=IdentityKind.choices)
    value = models.CharField(max_length=320, help_text="Normalized: emails lower-cased.")
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="unique_identity_value")
        ]
        verbose_name_plural = "customer identities"

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"
