"""Every write to customers and organizations."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from concierge.core import policy
from concierge.core.errors import Conflict, ValidationFailed
from concierge.core.tags import normalize_tags, tags_named
from concierge.customers.models import Customer, CustomerIdentity, IdentityKind, Organization


def normalize_identity(kind: str, value: str) -> str:
    """Emails compare case-insensitively; phone numbers without spaces or dashes."""
    value = value.strip()
    if kind == IdentityKind.EMAIL:
        return value.lower()
    if kind == IdentityKind.PHONE:
        return "".join(ch for ch in value if ch.isdigit() or ch == "+")
    return value


def organization_for_email(email: str) -> Organization | None:
    """The organization whose domain list holds the email's domain, if exactly one does."""
    domain = email.rpartition("@")[2].lower()
    if not domain:
        return None
    # Narrowed in the database by the quoted domain inside the JSON list's text,
    # then checked exactly ("ample.com" must not match "example.com").
    candidates = Organization.objects.filter(domains__icontains=f'"{domain}"').only("id", "domains")
    matches = [org for org in candidates if domain in (d.lower() for d in org.domains)]
    return matches[0] if len(matches) == 1 else None


@transaction.atomic
def create_customer(
    *,
    actor: Any,
    name: str,
    email: str = "",
    phone: str = "",
    organization: Organization | None = None,
    language: str = "en",
    time_zone: str = "UTC",
    notes: str = "",
    custom_attributes: dict[str, Any] | None = None,
) -> Customer:
    """Creates a customer with their identities; the organization follows the email domain."""
    if actor is not None:
        policy.require(policy.can_edit_customers(actor) or policy.is_admin(actor))
    name = name.strip()
    if not name:
        raise ValidationFailed("A name is required.", field_errors={"name": ["Required."]})
    email = normalize_identity(IdentityKind.EMAIL, email) if email else ""
    if email and CustomerIdentity.objects.filter(kind=IdentityKind.EMAIL, value=email).exists():
        raise Conflict(
            "A customer with this email address already exists.",
            field_errors={"email": ["Already in use."]},
        )
    if organization is None and email:
        organization = organization_for_email(email)
    customer = Customer.objects.create(
        name=name[:200],
        organization=organization,
        language=language or "en",
        time_zone=time_zone or "UTC",
        notes=notes,
        custom_attributes=custom_attributes or {},
    )
    if email:
        CustomerIdentity.objects.create(
            customer=customer, kind=IdentityKind.EMAIL, value=email, is_primary=True
        )
    if phone:
        add_identity(actor=None, customer=customer, kind=IdentityKind.PHONE, value=phone)
    _index_for_search([customer.pk])
    return customer


def _index_for_search(customer_ids: list[int]) -> None:
    """Re-indexes these customers for staff search after the commit (a background task)."""
    from concierge.search.actions import schedule_index

    schedule_index(kind="customer", object_ids=customer_ids)


def find_or_create_customer_by_email(*, email: str, name: str = "") -> Customer:
    """The customer reaching us from ``email``, created on first contact."""
    email = normalize_identity(IdentityKind.EMAIL, email)
    identity = (
        CustomerIdentity.objects.select_related("customer")
        .filter(kind=IdentityKind.EMAIL, value=email)
        .first()
    )
    if identity is not None:
        customer = identity.customer
        # Follow merges so mail from an old address lands on the surviving record.
        while customer.merged_into_id is not None and customer.merged_into is not None:
            customer = customer.merged_into
        return customer
    try:
        return create_customer(
            actor=None, name=" ".join(name.split()) or email.partition("@")[0], email=email
        )
    except Conflict:
        # Created concurrently by another request: use that one.
        return CustomerIdentity.objects.get(kind=IdentityKind.EMAIL, value=email).customer


def add_identity(*, actor: Any, customer: Customer, kind: str, value: str) -> CustomerIdentity:
    if actor is not None:
        policy.require(policy.can_edit_customers(actor))
    normalized = normalize_identity(kind, value)
    if not normalized:
        raise ValidationFailed("The identity is empty.", field_errors={"value": ["Required."]})
    try:
        with transaction.atomic():
            identity = CustomerIdentity.objects.create(
                customer=customer, kind=kind, value=normalized
            )
        _index_for_search([customer.pk])
        return identity
    except IntegrityError as error:
        raise Conflict(f"{kind} {normalized} already belongs to a customer.") from error


@transaction.atomic
def merge_customers(*, actor: Any, source: Customer, target: Customer) -> Customer:
    """Moves the source's identities, tickets and tags to the target; the source points to it."""
    from concierge.tickets.models import Ticket

    policy.require(policy.can_edit_customers(actor))
    if source.pk == target.pk:
        raise ValidationFailed("A customer cannot be merged into itself.")
    CustomerIdentity.objects.filter(customer=source).update(customer=target, is_primary=False)
    Ticket.objects.filter(requester=source).update(requester=target)
    for ticket in Ticket.objects.filter(ccs=source):
        ticket.ccs.remove(source)
        ticket.ccs.add(target)
    target.tags.add(*source.tags.all())
    if not target.organization_id and source.organization_id:
        target.organization_id = source.organization_id
    target.custom_attributes = {**source.custom_attributes, **target.custom_attributes}
    if source.notes:
        target.notes = f"{target.notes}\n\n{source.notes}".strip()
    if source.user_id and not target.user_id:
        target.user_id, source.user_id = source.user_id, None
        source.save(update_fields=["user"])
    target.save()
    source.merged_into = target
    source.save(update_fields=["merged_into", "updated_at"])
    _index_for_search([source.pk, target.pk])
    return target


@transaction.atomic
def update_customer(*, actor: Any, customer: Customer, changes: dict[str, Any]) -> Customer:
    policy.require(policy.can_edit_customers(actor))
    allowed = {
        "name",
        "organization",
        "language",
        "time_zone",
        "notes",
        "custom_attributes",
        "tags",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    changes = dict(changes)
    tag_names = normalize_tags(changes.pop("tags")) if "tags" in changes else None
    for field, value in changes.items():
        setattr(customer, field, value)
    if not customer.name.strip():
        raise ValidationFailed("A name is required.", field_errors={"name": ["Required."]})
    customer.save()
    if tag_names is not None:
        customer.tags.set(tags_named(tag_names))
    _index_for_search([customer.pk])
    return customer


def set_organization_visibility(
    *, actor: Any, organization: Organization, members_see_all: bool
) -> None:
    policy.require(policy.can_manage_settings(actor))
    organization.members_see_all_requests = members_see_all
    organization.save(update_fields=["members_see_all_requests", "updated_at"])


# --- added for the REST API (new functions; see the API report) ---

ORGANIZATION_FIELDS = {"name", "domains", "notes", "custom_attributes", "members_see_all_requests"}


def _clean_domains(domains: Any) -> list[str]:
    if not isinstance(domains, list | tuple):
        raise ValidationFailed("Domains must be a list.", field_errors={"domains": ["Not a list."]})
    cleaned: list[str] = []
    for raw in domains:
        domain = str(raw).strip().lower().lstrip("@")
        if not domain or "." not in domain or any(ch.isspace() or ch in "@/" for ch in domain):
            raise ValidationFailed(
                f"{raw!r} is not an email domain.", field_errors={"domains": ["Invalid domain."]}
            )
        if domain not in cleaned:
            cleaned.append(domain)
    return cleaned


@transaction.atomic
def save_organization(
    *, actor: Any, changes: dict[str, Any], organization: Organization | None = None
) -> Organization:
    """Creates (``organization=None``) or changes an organization.

    Agents edit organizations; opening an organization's requests to all its
    members is an admin's decision.
    """
    policy.require(policy.can_edit_customers(actor), "Only agents edit organizations.")
    if unknown := set(changes) - ORGANIZATION_FIELDS:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    organization = organization or Organization()
    if (
        "members_see_all_requests" in changes
        and bool(changes["members_see_all_requests"]) != organization.members_see_all_requests
    ):
        policy.require(
            policy.can_manage_settings(actor),
            "Only admins let an organization's members see all its requests.",
        )
        organization.members_see_all_requests = bool(changes["members_see_all_requests"])
    if "name" in changes or organization.pk is None:
        name = " ".join(str(changes.get("name") or "").split())
        if not name:
            raise ValidationFailed("A name is required.", field_errors={"name": ["Required."]})
        if len(name) > 200:
            raise ValidationFailed("At most 200 characters.", field_errors={"name": ["Too long."]})
        if Organization.objects.filter(name__iexact=name).exclude(pk=organization.pk).exists():
            raise Conflict(
                "An organization with this name exists.", field_errors={"name": ["Already in use."]}
            )
        organization.name = name
    if "domains" in changes:
        organization.domains = _clean_domains(changes["domains"])
    if "notes" in changes:
        organization.notes = str(changes["notes"] or "")[:10_000]
    if "custom_attributes" in changes:
        if not isinstance(changes["custom_attributes"], dict):
            raise ValidationFailed(
                "Custom attributes must be an object.",
                field_errors={"custom_attributes": ["Not an object."]},
            )
        organization.custom_attributes = changes["custom_attributes"]
    organization.save()
    return organization
