"""Who may see and change what: the one place access rules live.

Every service and action asks this module; interfaces never decide access
themselves. The rules, in short:

* anonymous visitors see nothing but sign-in, sign-up and the help center;
* customers see tickets they requested or are CC'd on, and, only where an
  admin enabled it for their organization, all of their organization's
  tickets; they never see internal notes or other customers' records;
* light agents read every ticket and write internal notes, nothing else;
* agents read and work every ticket, customer and organization;
* admins do what agents do and configure the desk (agents, teams, fields,
  views, organization visibility).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from concierge.core.errors import NotFound, PermissionDenied

if TYPE_CHECKING:
    from concierge.accounts.models import User
    from concierge.customers.models import Customer, Organization
    from concierge.tickets.models import Ticket

AnyUser = Any  # a User or Django's AnonymousUser


def _role(user: AnyUser) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return str(user.role)


def is_staff(user: AnyUser) -> bool:
    """Admins, agents and light agents."""
    return _role(user) in {"admin", "agent", "light_agent"}


def is_full_agent(user: AnyUser) -> bool:
    """Staff who may change tickets and customers (not light agents)."""
    return _role(user) in {"admin", "agent"}


def is_admin(user: AnyUser) -> bool:
    return _role(user) == "admin"


def customer_of(user: AnyUser) -> Customer | None:
    """The CRM record of a signed-in customer, if any."""
    if _role(user) != "customer":
        return None
    return getattr(user, "customer", None)


# --- Tickets --------------------------------------------------------------


def customer_ticket_filter(customer: Customer) -> Q:
    """Tickets a customer may see: their own, CC'd, and org-wide where enabled."""
    condition = Q(requester_id=customer.pk) | Q(ccs__id=customer.pk)
    organization = customer.organization
    if organization is not None and organization.members_see_all_requests:
        condition |= Q(organization_id=organization.pk)
    return condition


def visible_tickets(user: AnyUser, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Narrows ``queryset`` to the tickets ``user`` may see."""
    if is_staff(user):
        return queryset
    customer = customer_of(user)
    if customer is None:
        return queryset.none()
    matching_ids = queryset.model.objects.filter(customer_ticket_filter(customer)).values("pk")
    # A subquery rather than a join: the CC join would repeat rows.
    return queryset.filter(pk__in=matching_ids)


def can_view_ticket(user: AnyUser, ticket: Ticket) -> bool:
    if is_staff(user):
        return True
    customer = customer_of(user)
    if customer is None:
        return False
    return type(ticket).objects.filter(customer_ticket_filter(customer), pk=ticket.pk).exists()


def can_view_internal_notes(user: AnyUser) -> bool:
    return is_staff(user)


def can_update_ticket(user: AnyUser, ticket: Ticket) -> bool:
    """Change properties (status, assignee, tags, fields ...): full agents only."""
    return is_full_agent(user)


def can_reply_publicly(user: AnyUser, ticket: Ticket) -> bool:
    if is_full_agent(user):
        return True
    if customer_of(user) is not None:
        return can_view_ticket(user, ticket)
    return False


def can_add_internal_note(user: AnyUser, ticket: Ticket) -> bool:
    return is_staff(user)


def can_customer_mark_solved(user: AnyUser, ticket: Ticket) -> bool:
    return customer_of(user) is not None and can_view_ticket(user, ticket)


def require(allowed: bool, message: str = "You do not have access to this.") -> None:
    """Raises PermissionDenied unless ``allowed``."""
    if not allowed:
        raise PermissionDenied(message)


def require_ticket_visible(user: AnyUser, ticket: Ticket | None) -> Ticket:
    """Returns the ticket if visible; otherwise NotFound (so its existence does not leak)."""
    if ticket is None or not can_view_ticket(user, ticket):
        raise NotFound("No such ticket.")
    return ticket


# --- Customers and organizations -----------------------------------------


def can_view_customer(user: AnyUser, customer: Customer) -> bool:
    if is_staff(user):
        return True
    own = customer_of(user)
    return own is not None and own.pk == customer.pk


def can_edit_customers(user: AnyUser) -> bool:
    return is_full_agent(user)


def can_view_organization(user: AnyUser, organization: Organization) -> bool:
    if is_staff(user):
        return True
    own = customer_of(user)
    return own is not None and own.organization_id == organization.pk


# --- Desk configuration ----------------------------------------------------


def can_manage_settings(user: AnyUser) -> bool:
    """Agents, teams, custom fields, shared views, organization visibility."""
    return is_admin(user)


def can_view_agents(user: AnyUser) -> bool:
    return is_staff(user)


def can_manage_own_tokens(user: AnyUser) -> bool:
    return _role(user) is not None


def can_use_workspace(user: User | AnyUser) -> bool:
    return is_staff(user)
