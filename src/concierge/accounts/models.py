"""People who sign in: staff (admins, agents, light agents) and customers.

One user table serves both so that sessions, passwords, throttling and API
tokens work the same way for everyone; the ``role`` decides what a user may
do (see ``concierge.core.policy``). A customer's CRM record lives in
``customers.Customer`` and points back here when that customer can sign in.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from concierge.core.models import TimestampedModel


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    AGENT = "agent", "Agent"
    LIGHT_AGENT = "light_agent", "Light agent"
    CUSTOMER = "customer", "Customer"


STAFF_ROLES = (Role.ADMIN, Role.AGENT, Role.LIGHT_AGENT)


class Availability(models.TextChoices):
    ONLINE = "online", "Online"
    AWAY = "away", "Away"
    OFFLINE = "offline", "Offline"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("role", Role.ADMIN)
        fields.setdefault("email_verified_at", timezone.now())
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin, TimestampedModel):
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CUSTOMER)
    is_active = models.BooleanField(default=True)
    # Staff only -------------------------------------------------------------
    availability = models.CharField(
        max_length=10, choices=Availability.choices, default=Availability.OFFLINE
    )
    capacity = models.PositiveIntegerField(
        default=20, help_text="Most open tickets this agent should hold at once."
    )
    signature = models.TextField(blank=True, max_length=2000)
    avatar = models.ImageField(upload_to="avatars/", blank=True)
    notify_on_assignment = models.BooleanField(default=True)
    notify_on_customer_reply = models.BooleanField(default=True)
    notify_on_mention = models.BooleanField(default=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Customers prove they own their address (a link we email them) before the
    # account can see any request: otherwise anyone could sign up with someone
    # else's address and read that person's history.
    email_verified_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name or self.email

    @property
    def is_staff(self) -> bool:  # type: ignore[override]
        """Django admin access: admins only."""
        return self.is_active and self.role == Role.ADMIN

    @property
    def is_agent_user(self) -> bool:
        """Any staff role (admin, agent, light agent)."""
        return self.role in STAFF_ROLES

    @property
    def is_customer_user(self) -> bool:
        return self.role == Role.CUSTOMER

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def initials(self) -> str:
        parts = (self.name or self.email).split()
        return "".join(part[0] for part in parts[:2]).upper()

    def has_perm(self, perm: str, obj: object = None) -> bool:
        # Django admin is for admins; finer rules live in concierge.core.policy.
        return self.is_active and self.role == Role.ADMIN

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_active and self.role == Role.ADMIN


class Team(TimestampedModel):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, max_length=2000)
    members = models.ManyToManyField(User, related_name="teams", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the secret is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True, help_text="Shown to identify it.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
