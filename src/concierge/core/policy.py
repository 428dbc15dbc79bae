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

from functools import cached_property
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


# --- AI triage (predictions, corrections, categories) ----------------------


def can_view_predictions(user: AnyUser) -> bool:
    """Staff see triage predictions (light agents too: reading is all they do); customers never."""
    return is_staff(user)


def can_correct_prediction(user: AnyUser, ticket: Ticket) -> bool:
    """A correction changes how tickets are routed, so only full agents make one."""
    return is_full_agent(user)


def can_manage_triage(user: AnyUser) -> bool:
    """Categories, retraining and the triage model: admins."""
    return is_admin(user)


# --- Knowledge base and help center ------------------------------------------


def can_read_internal_articles(user: AnyUser) -> bool:
    """Drafts, archived and agents-only articles: staff (light agents read them too)."""
    return is_staff(user)


def can_edit_articles(user: AnyUser) -> bool:
    """Write, publish, archive, translate and restore articles: full agents."""
    return is_full_agent(user)


def can_manage_help_center(user: AnyUser) -> bool:
    """Categories, sections and branding."""
    return is_admin(user)


def can_view_knowledge_reports(user: AnyUser) -> bool:
    return is_admin(user)


#: The role of ``IdentifiedVisitor``: not a role anyone signs in with.
IDENTIFIED_VISITOR_ROLE = "identified_visitor"


class IdentifiedVisitor:
    """A chat visitor whom the host site identified with a signed identity (chat.identity).

    The help center treats them as a signed-in customer (Zendesk's widget does
    the same for authenticated visitors): the host site vouched for who they
    are, as the portal's sign-in does. That is all this reader may do: no
    ticket, customer record or staff text is visible to it, since
    ``customer_of`` answers None for it.
    """

    is_authenticated = True
    is_active = True
    role = IDENTIFIED_VISITOR_ROLE

    def __init__(self, customer_id: int) -> None:
        self.customer_id = customer_id

    @cached_property
    def organization_id(self) -> int | None:
        """The customer's organization (articles for chosen organizations), read once."""
        from concierge.customers.models import Customer

        return (
            Customer.objects.filter(pk=self.customer_id)
            .values_list("organization_id", flat=True)
            .first()
        )


def reads_signed_in_articles(user: AnyUser) -> bool:
    """Signed-in customers, and chat visitors the host site identified."""
    return customer_of(user) is not None or _role(user) == IDENTIFIED_VISITOR_ROLE


def reader_organization_id(user: AnyUser) -> int | None:
    """The organization of a signed-in customer or identified chat visitor, if any.

    It decides which articles "for chosen organizations" they read.
    """
    customer = customer_of(user)
    if customer is not None:
        return customer.organization_id
    if _role(user) == IDENTIFIED_VISITOR_ROLE:
        return user.organization_id  # type: ignore[no-any-return]
    return None


def _articles_of_organization(organization_id: int) -> Any:
    """Ids of the articles named for ``organization_id`` (a subquery, never a join:
    a join on the article's organizations would repeat articles in listings)."""
    from concierge.knowledge.models import Article

    return Article.organizations.through.objects.filter(organization_id=organization_id).values(
        "article_id"
    )


def visible_articles_filter(user: AnyUser) -> Q:
    """Articles ``user`` may read: all of them for staff; else published ones for everyone,
    for signed-in customers (and identified chat visitors) those for signed-in
    customers too, and those for their own organization."""
    if can_read_internal_articles(user):
        return Q()
    return customer_articles_filter(
        signed_in=reads_signed_in_articles(user), organization_id=reader_organization_id(user)
    )


def customer_articles_filter(*, signed_in: bool, organization_id: int | None) -> Q:
    """Articles a customer reads: signed in or not, of ``organization_id`` or none.

    Also asked about a ticket's requester, who may never have signed in: the
    reply composer warns before an agent sends a link they could not open.
    """
    visible = Q(visibility__in=["public", "signed_in"] if signed_in else ["public"])
    if signed_in and organization_id is not None:
        visible |= Q(visibility="organizations", pk__in=_articles_of_organization(organization_id))
    return Q(visible, status="published")


def article_needs_sign_in(user: AnyUser, visibility: str) -> bool:
    """Whether signing in as a customer could let ``user`` read an article of ``visibility``.

    For an article of chosen organizations only a visitor who is not signed in
    is asked (which organizations it is for never shows); a signed-in
    customer of another organization is told there is no such article.
    """
    if visibility not in {"signed_in", "organizations"}:
        return False
    return not is_staff(user) and not reads_signed_in_articles(user)


# --- Live chat (channels, visitors) ------------------------------------------
#
# A chat visitor is not a signed-in user: the widget proves who it is with a
# visitor token (or an identity signed by the host site). These rules take
# the visitor record (``chat.ChatVisitor``) instead of a user.


def can_manage_chat_channels(user: AnyUser) -> bool:
    """Create, configure and re-key embedded chat channels: admins."""
    return is_admin(user)


def visitor_may_see_conversation(visitor: Any, conversation: Any) -> bool:
    """A visitor sees the chats of their own customer record, in the channel they came through.

    An identified visitor on a second device is the same customer, so they
    see their earlier chats; an anonymous visitor has a customer of their own.
    """
    if visitor is None or conversation is None:
        return False
    return bool(
        conversation.channel_id == visitor.channel_id
        and conversation.ticket.requester_id == visitor.customer_id
    )


# --- Real time (agent sockets, live events) ------------------------------------
#
# A socket is checked when it opens and when it subscribes to a stream; staff
# events are then re-checked per recipient as they go out, from the facts the
# event carries (ticket_id, team_id, assignee_id), so no query runs per event.


def can_use_agent_socket(user: AnyUser) -> bool:
    """The workspace's live socket: any active staff member."""
    return is_staff(user)


def can_subscribe_to_ticket_stream(user: AnyUser, ticket: Ticket) -> bool:
    """A ticket's staff stream (internal notes, viewers, typing): staff who may see the ticket."""
    return is_staff(user) and can_view_ticket(user, ticket)


def can_receive_ticket_event(user: AnyUser, event_data: dict[str, Any]) -> bool:
    """Whether an inbox-wide (``staff`` stream) event about one ticket may reach ``user``.

    Today every staff role reads every ticket; a team-limited role would
    decide here from ``event_data["team_id"]`` / ``["assignee_id"]``. An
    event that names its recipients (``user_ids``: an agent's notification,
    their bell count) reaches only them: the list never leaves the server
    for anyone else, not even to be hidden by the page.
    """
    if not is_staff(user):
        return False
    recipients = event_data.get("user_ids")
    return recipients is None or getattr(user, "pk", None) in recipients


def can_type_public_reply(user: AnyUser, ticket: Ticket) -> bool:
    """Whether the requester may be shown "agent is typing" for ``user``'s draft."""
    return is_full_agent(user) and can_reply_publicly(user, ticket)


# --- Routing and assignment (rules, team strategies, queues) -------------------------
#
# Rules change tickets on their own, so only admins write them; every staff
# member may see why a ticket landed where it did (queues, which rules fired).


def can_manage_routing(user: AnyUser) -> bool:
    """Routing rules, business hours, team assignment strategies, agent skills: admins."""
    return is_admin(user)


def can_view_routing(user: AnyUser) -> bool:
    """Team queues (waiting tickets, oldest wait) and the rules that fired: staff."""
    return is_staff(user)


# --- Search (articles, tickets, customers in one index) ------------------------------
#
# Anonymous visitors find public articles only; customers public articles and
# the tickets they may see (never by words of internal notes); staff
# everything. The search service applies these in SQL and re-checks each hit.


def searchable_kinds(user: AnyUser) -> set[str]:
    """Which kinds of indexed objects ``user`` may search at all."""
    if is_staff(user):
        return {"article", "ticket", "customer"}
    if customer_of(user) is not None:
        return {"article", "ticket"}
    return {"article"}


def can_search_staff_text(user: AnyUser) -> bool:
    """Whether searches may match staff-only text (internal notes, internal articles)."""
    return is_staff(user)


def search_document_filter(user: AnyUser) -> Q:
    """The index rows (search.SearchDocument) ``user`` may find."""
    if is_staff(user):
        return Q()
    visible = Q(audience="public")
    if reads_signed_in_articles(user):
        visible |= Q(audience="signed_in")
    organization_id = reader_organization_id(user)
    if organization_id is not None:
        visible |= Q(
            audience="members",
            kind="article",
            object_id__in=_articles_of_organization(organization_id),
        )
    customer = customer_of(user)
    if customer is None:
        return visible
    from concierge.tickets.models import Ticket

    own_tickets = visible_tickets(user, Ticket.objects.all()).values("pk")
    return (
        visible
        | Q(audience="customer", kind="ticket", object_id__in=own_tickets)
        | Q(~Q(kind="ticket"), audience="customer", customer_id=customer.pk)
    )
