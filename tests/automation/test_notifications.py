"""A rule's "notify" (and an escalation) reaches agents in the workspace: a bell, a list, live."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from concierge.accounts.models import Team
from concierge.automation.actions import process_ticket_event
from concierge.automation.models import AgentNotification
from concierge.core.models import RealtimeEvent
from tests.automation.conftest import new_ticket, rule
from tests.conftest import signed_in_client
from tests.factories import TeamFactory, make_agent, make_customer_user

pytestmark = pytest.mark.django_db


def _notify_team(admin: Any, team: Team, via: str = "in_app") -> None:
    rule(
        admin, "Tell the team", {"all": []},
        [{"type": "set_team", "team": team.pk},
         {"type": "notify", "recipients": "team", "via": via, "message": "Look at this one."}],
    )  # fmt: skip


def test_in_app_notify_stores_a_notice_for_each_team_member_and_names_them_live(
    admin_user: Any, billing: Team
) -> None:
    members = [make_agent(email=f"m{i}@concierge.test") for i in range(2)]
    billing.members.add(*members)
    outsider = make_agent(email="other@concierge.test")
    _notify_team(admin_user, billing)
    ticket = new_ticket()

    process_ticket_event(ticket_id=ticket.pk, event="ticket_created")

    stored = AgentNotification.objects.order_by("user_id")
    assert [(n.user_id, n.ticket_id, n.message) for n in stored] == [
        (m.pk, ticket.pk, "Look at this one.") for m in members
    ]
    assert not AgentNotification.objects.filter(user=outsider).exists()
    event = RealtimeEvent.objects.get(kind="automation.notification")
    assert event.stream == "staff"
    assert sorted(event.data["user_ids"]) == sorted(m.pk for m in members)


def test_email_only_notify_puts_nothing_in_the_app(admin_user: Any, billing: Team) -> None:
    billing.members.add(make_agent(email="m@concierge.test"))
    _notify_team(admin_user, billing, via="email")

    process_ticket_event(ticket_id=new_ticket().pk, event="ticket_created")

    assert AgentNotification.objects.count() == 0


def test_the_bell_counts_only_the_agents_own_unread_notifications(
    admin_user: Any, billing: Team
) -> None:
    member = make_agent(email="m@concierge.test")
    billing.members.add(member)
    outsider = make_agent(email="other@concierge.test")
    _notify_team(admin_user, billing)
    process_ticket_event(ticket_id=new_ticket().pk, event="ticket_created")
    process_ticket_event(ticket_id=new_ticket().pk, event="ticket_created")

    mine = signed_in_client(member).get("/inbox/all-open/").content.decode()
    theirs = signed_in_client(outsider).get("/inbox/all-open/").content.decode()

    assert "data-notification-count>2</span>" in mine
    assert "data-notification-count hidden>0</span>" in theirs


def test_opening_a_notification_marks_it_read_and_goes_to_the_ticket(
    admin_user: Any, billing: Team
) -> None:
    member = make_agent(email="m@concierge.test")
    billing.members.add(member)
    _notify_team(admin_user, billing)
    ticket = new_ticket(subject="Card declined")
    process_ticket_event(ticket_id=ticket.pk, event="ticket_created")
    notice = AgentNotification.objects.get()
    client = signed_in_client(member)

    listing = client.get(reverse("workspace:notifications")).content.decode()
    opened = client.post(reverse("workspace:notification_open", args=[notice.pk]))

    assert "Look at this one." in listing and "Card declined" in listing
    assert opened.status_code == 302 and opened["Location"] == f"/tickets/{ticket.pk}/"
    notice.refresh_from_db()
    assert notice.read_at is not None


def test_an_agent_cannot_mark_someone_elses_notification_read(
    admin_user: Any, billing: Team
) -> None:
    member = make_agent(email="m@concierge.test")
    billing.members.add(member)
    _notify_team(admin_user, billing)
    process_ticket_event(ticket_id=new_ticket().pk, event="ticket_created")
    notice = AgentNotification.objects.get()
    intruder = signed_in_client(make_agent(email="other@concierge.test"))

    intruder.post(reverse("workspace:notification_open", args=[notice.pk]))
    intruder.post(reverse("workspace:notifications_read_all"))

    notice.refresh_from_db()
    assert notice.read_at is None
    assert (
        "Look at this one." not in intruder.get(reverse("workspace:notifications")).content.decode()
    )


def test_mark_all_read_clears_the_bell(admin_user: Any, billing: Team) -> None:
    member = make_agent(email="m@concierge.test")
    billing.members.add(member)
    _notify_team(admin_user, billing)
    for _ in range(3):
        process_ticket_event(ticket_id=new_ticket().pk, event="ticket_created")
    client = signed_in_client(member)

    client.post(reverse("workspace:notifications_read_all"))

    assert AgentNotification.objects.filter(read_at__isnull=True).count() == 0
    assert (
        "data-notification-count hidden>0</span>" in client.get("/inbox/all-open/").content.decode()
    )


def test_an_escalation_notifies_the_supervisor_team_in_the_app(
    admin_user: Any, billing: Team
) -> None:
    supervisors: Team = TeamFactory(name="Supervisors")  # type: ignore[assignment]
    boss = make_agent(email="boss@concierge.test")
    supervisors.members.add(boss)
    rule(
        admin_user, "Angry customers",
        {"all": [{"field": "text", "operator": "contains_any", "value": ["unacceptable"]}]},
        [{"type": "escalate", "team": supervisors.pk, "priority": "urgent"}],
    )  # fmt: skip
    ticket = new_ticket(body="This is unacceptable.", team=billing)

    process_ticket_event(ticket_id=ticket.pk, event="ticket_created")

    notice = AgentNotification.objects.get(user=boss)
    assert notice.ticket_id == ticket.pk and "escalated to Supervisors" in notice.message


def test_opening_a_ticket_marks_only_the_agents_notifications_about_it_read(
    admin_user: Any, billing: Team
) -> None:
    member, colleague = make_agent(email="m@concierge.test"), make_agent(email="c@concierge.test")
    billing.members.add(member, colleague)
    _notify_team(admin_user, billing)
    opened, other = new_ticket(subject="Card declined"), new_ticket(subject="Refund")
    for ticket in (opened, other):
        process_ticket_event(ticket_id=ticket.pk, event="ticket_created")

    page = signed_in_client(member).get(reverse("workspace:ticket", args=[opened.pk]))

    assert page.status_code == 200
    # The bell on the ticket page already counts what is left: the other ticket's notice.
    assert "data-notification-count>1</span>" in page.content.decode()
    unread = AgentNotification.objects.filter(read_at__isnull=True)
    assert sorted(unread.values_list("user_id", "ticket_id")) == sorted(
        [(member.pk, other.pk), (colleague.pk, opened.pk), (colleague.pk, other.pk)]
    )
    event = RealtimeEvent.objects.get(kind="automation.notifications_read")
    assert event.data == {"user_ids": [member.pk], "ticket_id": opened.pk, "unread": 1}


def test_opening_a_ticket_without_unread_notifications_publishes_nothing(
    admin_user: Any, billing: Team
) -> None:
    member = make_agent(email="m@concierge.test")
    billing.members.add(member)
    ticket = new_ticket()

    signed_in_client(member).get(reverse("workspace:ticket", args=[ticket.pk]))

    assert not RealtimeEvent.objects.filter(kind="automation.notifications_read").exists()


def test_a_customer_never_sees_an_agents_notifications(
    admin_user: Any, billing: Team, customer_user: Any
) -> None:
    member = make_agent(email="m@concierge.test")
    billing.members.add(member)
    _notify_team(admin_user, billing)
    ticket = new_ticket(requester=customer_user.customer)
    process_ticket_event(ticket_id=ticket.pk, event="ticket_created")
    client = signed_in_client(customer_user)

    pages = [
        client.get(reverse("workspace:notifications")),
        client.get(f"/portal/requests/{ticket.pk}/"),
    ]
    client.post(reverse("workspace:notifications_read_all"))
    client.get(reverse("workspace:ticket", args=[ticket.pk]))

    assert pages[0].status_code in (302, 403, 404)
    assert all("Look at this one." not in p.content.decode() for p in pages)
    assert all("data-notification-count" not in p.content.decode() for p in pages)
    assert AgentNotification.objects.get().read_at is None


def test_a_notice_arriving_on_its_tickets_page_is_marked_read_there(
    admin_user: Any, billing: Team
) -> None:
    member = make_agent(email="m@concierge.test")
    other = make_agent(email="other@concierge.test")
    billing.members.add(member, other)
    _notify_team(admin_user, billing)
    watched, elsewhere = new_ticket(), new_ticket()
    for ticket in (watched, elsewhere):
        process_ticket_event(ticket_id=ticket.pk, event="ticket_created")
    client = signed_in_client(member)
    url = reverse("workspace:notifications_read_ticket", args=[watched.pk])

    assert client.get(url).status_code == 405  # a change: POST only
    answer = client.post(url)

    assert answer.status_code == 200 and answer.json() == {"marked_read": 1}
    unread = AgentNotification.objects.filter(read_at__isnull=True)
    # Only this agent's notice about that ticket: the other ticket's and the colleague's stay.
    assert sorted((n.user_id, n.ticket_id) for n in unread) == sorted(
        [(member.pk, elsewhere.pk), (other.pk, watched.pk), (other.pk, elsewhere.pk)]
    )
    told = RealtimeEvent.objects.filter(kind="automation.notifications_read").get()
    assert told.data == {"user_ids": [member.pk], "ticket_id": watched.pk, "unread": 1}
    assert client.post(url).json() == {"marked_read": 0}


def test_customers_cannot_mark_notices_read(admin_user: Any, billing: Team) -> None:
    url = reverse("workspace:notifications_read_ticket", args=[new_ticket().pk])
    answer = signed_in_client(make_customer_user()).post(url)
    assert answer.status_code in (302, 403, 404)
