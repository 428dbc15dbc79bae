"""Chats are tickets: visitors, identity (HMAC), messages, limits, offline messages, idle end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from concierge.accounts.models import Availability
from concierge.automation.models import BusinessHours
from concierge.chat import actions, services
from concierge.chat.identity import IdentityRefused, sign_identity
from concierge.chat.models import ChatChannel, ChatConversation, ChatVisitorToken
from concierge.core import presence
from concierge.core.errors import LimitExceeded, NotFound, ValidationFailed
from concierge.customers.models import Customer
from concierge.tickets import actions as ticket_actions
from concierge.tickets.actions import NewAttachment
from concierge.tickets.models import Channel, EntryKind, Status, Ticket
from tests.chat.conftest import HOST_ORIGIN, new_visitor
from tests.factories import CustomerFactory, make_agent

pytestmark = pytest.mark.django_db


def _identity(channel: ChatChannel, user_id: str, email: str, **extra: Any) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "email": email,
        "name": "Ida Identified",
        "signature": sign_identity(channel.identity_secret, user_id=user_id, email=email),
        **extra,
    }


# --- visitors and identity ------------------------------------------------------------


def test_anonymous_visitor_gets_a_token_stored_only_as_a_hash(chat_channel: ChatChannel) -> None:
    visitor, token = new_visitor(chat_channel)

    assert token.startswith("cv_") and len(token) > 40
    stored = ChatVisitorToken.objects.get(visitor=visitor)
    assert stored.token_hash != token
    assert token not in stored.token_hash
    assert services.visitor_for_token(channel=chat_channel, token=token) == visitor
    assert visitor.customer.name == f"Visitor {visitor.pk}"


def test_token_resumes_the_same_anonymous_visitor(chat_channel: ChatChannel) -> None:
    visitor, token = new_visitor(chat_channel)

    again, same_token = new_visitor(chat_channel, token=token)

    assert again == visitor and same_token == token


def test_validly_signed_identity_matches_the_customer_by_email(chat_channel: ChatChannel) -> None:
    customer = CustomerFactory(name="Ida Identified", email="ida@example.com")

    visitor, _ = new_visitor(
        chat_channel, identity=_identity(chat_channel, "user-42", "IDA@example.com")
    )

    assert visitor.customer == customer
    assert visitor.external_id == "user-42"
    assert visitor.is_identified


def test_identified_visitor_sees_earlier_chats_on_another_device(chat_channel: ChatChannel) -> None:
    identity = _identity(chat_channel, "user-7", "seven@example.com")
    laptop, _ = new_visitor(chat_channel, identity=identity)
    conversation, _ = actions.start_conversation(visitor=laptop, body="My parcel is late")

    phone, phone_token = new_visitor(chat_channel, identity=identity)

    assert phone == laptop
    assert ChatVisitorToken.objects.filter(visitor=laptop).count() == 2
    history = services.visitor_history(visitor=phone)
    assert [c["ticket_id"] for c in history["conversations"]] == [conversation.ticket_id]


@pytest.mark.parametrize(
    ("signature", "message"),
    [("", "not signed"), ("0" * 64, "does not match")],
    ids=["missing", "invalid"],
)
def test_unsigned_or_badly_signed_identity_is_refused(
    chat_channel: ChatChannel, signature: str, message: str
) -> None:
    customers_before = Customer.objects.count()

    with pytest.raises(IdentityRefused, match=message):
        new_visitor(
            chat_channel,
            identity={"user_id": "user-42", "email": "ida@example.com", "signature": signature},
        )

    assert Customer.objects.count() == customers_before


def test_signature_for_another_email_is_refused(chat_channel: ChatChannel) -> None:
    """A valid signature for my own address cannot claim someone else's chats."""
    mine = _identity(chat_channel, "user-1", "me@example.com")

    with pytest.raises(IdentityRefused):
        new_visitor(chat_channel, identity={**mine, "email": "victim@example.com"})


def test_signature_made_with_another_channels_secret_is_refused(chat_channel: ChatChannel) -> None:
    other = ChatChannel.objects.create(name="Other", allowed_origins=[HOST_ORIGIN])

    with pytest.raises(IdentityRefused):
        new_visitor(chat_channel, identity=_identity(other, "user-1", "me@example.com"))


def test_identified_token_alone_does_not_keep_the_identity(chat_channel: ChatChannel) -> None:
    """The host signed the user out: the browser's old token starts an anonymous visitor."""
    identified, token = new_visitor(
        chat_channel, identity=_identity(chat_channel, "user-9", "nine@example.com")
    )

    visitor, new_token = new_visitor(chat_channel, token=token)

    assert visitor != identified and not visitor.is_identified and new_token != token


def test_signing_in_after_an_anonymous_chat_brings_that_chat_along(
    chat_channel: ChatChannel,
) -> None:
    anonymous, token = new_visitor(chat_channel)
    conversation, _ = actions.start_conversation(visitor=anonymous, body="Where is my parcel?")
    stranger, _ = new_visitor(chat_channel)  # another browser, never signed in
    theirs, _ = actions.start_conversation(visitor=stranger, body="Someone else's question")

    identified, new_token = new_visitor(
        chat_channel, token=token, identity=_identity(chat_channel, "user-5", "five@example.com")
    )

    assert identified.is_identified and new_token != token
    history = services.visitor_history(visitor=identified)
    assert [c["ticket_id"] for c in history["conversations"]] == [conversation.ticket_id]
    ticket = Ticket.objects.get(pk=conversation.ticket_id)
    assert ticket.requester == identified.customer
    assert ticket.entries.get().author_customer == identified.customer
    assert ticket.audit_events.filter(field="requester").exists()
    # The anonymous visitor's token opens nothing any more; the stranger keeps their chat.
    assert not ChatVisitorToken.objects.filter(visitor=anonymous).exists()
    assert ChatConversation.objects.get(pk=theirs.pk).visitor == stranger
    assert Ticket.objects.get(pk=theirs.ticket_id).requester == stranger.customer


def test_switching_between_signed_in_users_moves_nothing(chat_channel: ChatChannel) -> None:
    first, token = new_visitor(
        chat_channel, identity=_identity(chat_channel, "user-1", "one@example.com")
    )
    conversation, _ = actions.start_conversation(visitor=first, body="My own question")

    second, _ = new_visitor(
        chat_channel, token=token, identity=_identity(chat_channel, "user-2", "two@example.com")
    )

    assert second != first
    assert services.visitor_history(visitor=second)["conversations"] == []
    assert Ticket.objects.get(pk=conversation.ticket_id).requester == first.customer


def test_channel_requiring_identity_refuses_anonymous_visitors(chat_channel: ChatChannel) -> None:
    chat_channel.require_identity = True
    chat_channel.save()

    with pytest.raises(IdentityRefused, match="signed-in users"):
        new_visitor(chat_channel)


def test_prechat_email_of_another_customer_is_not_attached(chat_channel: ChatChannel) -> None:
    victim = CustomerFactory(email="victim@example.com")
    visitor, _ = new_visitor(chat_channel)

    actions.update_visitor_details(visitor=visitor, name="Mallory", email="victim@example.com")

    visitor.refresh_from_db()
    assert visitor.customer != victim
    assert visitor.customer.primary_email == ""
    assert visitor.email == "victim@example.com"


# --- chats are tickets ------------------------------------------------------------------


def test_first_message_opens_a_chat_ticket_in_the_inbox(
    chat_channel: ChatChannel, visitor: Any
) -> None:
    chat_visitor, _ = visitor

    conversation, entry = actions.send_visitor_message(
        visitor=chat_visitor, body="Hello, is my order shipped?", page_url="https://shop/x"
    )

    ticket = conversation.ticket
    assert ticket.channel == Channel.CHAT
    assert ticket.status == Status.NEW
    assert ticket.requester == chat_visitor.customer
    assert ticket.subject == "Chat: Hello, is my order shipped?"
    assert entry.kind == EntryKind.PUBLIC_REPLY and entry.channel == Channel.CHAT
    assert entry.author_customer == chat_visitor.customer
    assert conversation.page_url == "https://shop/x"


def test_next_messages_are_entries_of_the_same_ticket(
    chat_channel: ChatChannel, visitor: Any
) -> None:
    chat_visitor, _ = visitor
    conversation, _ = actions.send_visitor_message(visitor=chat_visitor, body="Hi")

    actions.send_visitor_message(
        visitor=chat_visitor, body="Anyone?", ticket_id=conversation.ticket_id
    )

    assert Ticket.objects.count() == 1
    assert conversation.ticket.entries.count() == 2


def test_visitor_cannot_write_into_someone_elses_chat(chat_channel: ChatChannel) -> None:
    alice, _ = new_visitor(chat_channel)
    bob, _ = new_visitor(chat_channel)
    conversation, _ = actions.send_visitor_message(visitor=alice, body="Alice's question")

    with pytest.raises(NotFound):
        actions.send_visitor_message(visitor=bob, body="sneaky", ticket_id=conversation.ticket_id)

    assert conversation.ticket.entries.count() == 1


def test_history_shows_public_replies_but_never_internal_notes(
    chat_channel: ChatChannel, visitor: Any
) -> None:
    chat_visitor, _ = visitor
    agent = make_agent()
    conversation, _ = actions.send_visitor_message(visitor=chat_visitor, body="Hi")
    ticket_actions.add_entry(
        actor=agent, ticket=conversation.ticket, body="Secret note", kind=EntryKind.INTERNAL_NOTE
    )
    ticket_actions.add_entry(actor=agent, ticket=conversation.ticket, body="Hello there!")

    history = services.visitor_history(visitor=chat_visitor)

    bodies = [e["body_html"] for e in history["conversations"][0]["entries"]]
    assert bodies == ["<p>Hi</p>\n", "<p>Hello there!</p>\n"]
    assert history["conversations"][0]["entries"][1]["author_name"] == agent.name


def test_attachment_reaches_the_ticket_and_a_signed_link_only_for_its_visitor(
    chat_channel: ChatChannel, visitor: Any
) -> None:
    chat_visitor, _ = visitor
    other, _ = new_visitor(chat_channel)
    _, entry = actions.send_visitor_message(
        visitor=chat_visitor, body="", attachments=[NewAttachment("receipt.pdf", b"%PDF-1.4 data")]
    )
    payload = services.entry_payload(entry, visitor=chat_visitor)
    link = payload["attachments"][0]["url"]

    signed = link.split("/")[-2]
    assert services.attachment_for_link(signed).filename == "receipt.pdf"
    forged = services.attachment_link(entry.attachments.get().pk, other.pk).split("/")[-2]
    with pytest.raises(NotFound):
        services.attachment_for_link(forged)
    with pytest.raises(NotFound):
        services.attachment_for_link(signed[:-2] + "xx")


def test_attachment_limits_are_the_tickets(
    chat_channel: ChatChannel, visitor: Any, settings: Any
) -> None:
    settings.ATTACHMENT_MAX_BYTES = 10
    chat_visitor, _ = visitor

    with pytest.raises(LimitExceeded, match="attachment size limit"):
        actions.send_visitor_message(
            visitor=chat_visitor, body="x", attachments=[NewAttachment("big.bin", b"0" * 11)]
        )

    assert not Ticket.objects.exists()


# --- limits -------------------------------------------------------------------------------


def test_message_over_the_size_limit_is_refused_naming_the_limit(
    chat_channel: ChatChannel, visitor: Any, settings: Any
) -> None:
    settings.CHAT_MESSAGE_MAX_CHARS = 100
    chat_visitor, _ = visitor

    with pytest.raises(LimitExceeded, match="the chat limit is 100"):
        actions.send_visitor_message(visitor=chat_visitor, body="x" * 101)

    assert not Ticket.objects.exists()


def test_visitor_over_the_rate_limit_is_refused(
    chat_channel: ChatChannel, visitor: Any, settings: Any
) -> None:
    settings.CHAT_RATE_LIMIT_MESSAGES = 3
    settings.CHAT_RATE_LIMIT_WINDOW_SECONDS = 3600  # no window boundary inside the test
    chat_visitor, _ = visitor
    conversation, _ = actions.send_visitor_message(visitor=chat_visitor, body="1")
    for n in (2, 3):
        actions.send_visitor_message(
            visitor=chat_visitor, body=str(n), ticket_id=conversation.ticket_id
        )

    with pytest.raises(actions.RateLimited, match="at most 3 every 3600 seconds"):
        actions.send_visitor_message(
            visitor=chat_visitor, body="4", ticket_id=conversation.ticket_id
        )

    assert conversation.ticket.entries.count() == 3
    other, _ = new_visitor(chat_channel)
    actions.send_visitor_message(visitor=other, body="another visitor is not limited")


# --- offline, availability, idle, transcript ----------------------------------------------


def test_channel_is_offline_without_agents_online_or_outside_business_hours(
    chat_channel: ChatChannel,
) -> None:
    assert not services.channel_state(chat_channel).is_online
    agent = make_agent(availability=Availability.ONLINE)
    # Online by choice but no workspace open: nobody would see the chat.
    assert not services.channel_state(chat_channel).is_online
    presence.record_heartbeat(user_id=agent.pk, active=True)
    assert services.channel_state(chat_channel).is_online
    agent.availability = Availability.AWAY
    agent.save()
    assert not services.channel_state(chat_channel).is_online

    presence.record_heartbeat(user_id=make_agent(availability=Availability.ONLINE).pk)
    chat_channel.business_hours = BusinessHours.objects.create(name="Never", schedule={})
    chat_channel.save()
    state = services.channel_state(chat_channel)
    assert not state.within_business_hours and not state.is_online
    assert services.widget_config(chat_channel)["online"] is False


def test_offline_message_becomes_an_email_ticket(chat_channel: ChatChannel) -> None:
    ticket = actions.leave_offline_message(
        channel=chat_channel, name="Olga", email="Olga@Example.com", body="Call me back please"
    )

    assert ticket.channel == Channel.EMAIL
    assert ticket.requester.primary_email == "olga@example.com"
    assert ticket.entries.get().body_source == "Call me back please"
    assert ticket.entries.get().metadata["chat"]["offline"] is True


def test_offline_message_needs_a_valid_email(chat_channel: ChatChannel) -> None:
    with pytest.raises(ValidationFailed):
        actions.leave_offline_message(channel=chat_channel, email="not-an-email", body="Hi")
    assert not Ticket.objects.exists()


def test_idle_chat_ends_is_solved_when_answered_and_emails_the_transcript(
    chat_channel: ChatChannel, django_capture_on_commit_callbacks: Any
) -> None:
    visitor, _ = new_visitor(
        chat_channel, identity=_identity(chat_channel, "u1", "una@example.com")
    )
    conversation, _ = actions.send_visitor_message(visitor=visitor, body="Where is my order?")
    ticket_actions.add_entry(actor=make_agent(), ticket=conversation.ticket, body="On its way!")
    mail.outbox.clear()

    later = timezone.now() + timedelta(minutes=31)
    with django_capture_on_commit_callbacks(execute=True):
        assert actions.close_idle_conversations(now=later) == 1
        assert actions.close_idle_conversations(now=later) == 0  # safe to run twice

    conversation.refresh_from_db()
    assert conversation.status == "ended" and conversation.ended_reason == "idle"
    assert conversation.ticket.status == Status.SOLVED
    [message] = mail.outbox
    assert message.to == ["una@example.com"]
    assert "Where is my order?" in message.body and "On its way!" in message.body


def test_idle_unanswered_chat_stays_open_for_the_team(
    chat_channel: ChatChannel, visitor: Any
) -> None:
    chat_visitor, _ = visitor
    conversation, _ = actions.send_visitor_message(visitor=chat_visitor, body="Hello?")

    actions.close_idle_conversations(now=timezone.now() + timedelta(minutes=31))

    conversation.refresh_from_db()
    assert conversation.status == "ended"
    assert conversation.ticket.status == Status.NEW


def test_recent_chat_is_not_idle(chat_channel: ChatChannel, visitor: Any) -> None:
    chat_visitor, _ = visitor
    actions.send_visitor_message(visitor=chat_visitor, body="Hello?")

    assert actions.close_idle_conversations(now=timezone.now() + timedelta(minutes=5)) == 0


def test_message_after_the_end_continues_the_same_ticket(
    chat_channel: ChatChannel, visitor: Any
) -> None:
    chat_visitor, _ = visitor
    conversation, _ = actions.send_visitor_message(visitor=chat_visitor, body="Hello?")
    actions.end_conversation(visitor=chat_visitor, ticket_id=conversation.ticket_id)

    again, _ = actions.send_visitor_message(
        visitor=chat_visitor, body="One more thing", ticket_id=conversation.ticket_id
    )

    assert again.pk == conversation.pk and again.status == "active"


def test_transcript_is_emailed_on_request_with_public_messages_only(
    chat_channel: ChatChannel, visitor: Any, django_capture_on_commit_callbacks: Any
) -> None:
    chat_visitor, _ = visitor
    agent = make_agent()
    conversation, _ = actions.send_visitor_message(visitor=chat_visitor, body="Question")
    ticket_actions.add_entry(
        actor=agent, ticket=conversation.ticket, body="Internal only", kind=EntryKind.INTERNAL_NOTE
    )
    ticket_actions.add_entry(actor=agent, ticket=conversation.ticket, body="The answer")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        actions.request_transcript(
            visitor=chat_visitor, ticket_id=conversation.ticket_id, email="vera@example.com"
        )

    [message] = mail.outbox
    assert message.to == ["vera@example.com"]
    assert f"[#{conversation.ticket_id}]" in message.subject
    assert "Question" in message.body and "The answer" in message.body
    assert "Internal only" not in message.body
    assert "Internal only" not in message.alternatives[0][0]
    assert ChatConversation.objects.get(pk=conversation.pk).transcript_sent_at is not None
    with pytest.raises(actions.RateLimited):
        actions.request_transcript(
            visitor=chat_visitor, ticket_id=conversation.ticket_id, email="vera@example.com"
        )


def test_close_idle_chats_command(chat_channel: ChatChannel, visitor: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    chat_visitor, _ = visitor
    conversation, _ = actions.send_visitor_message(visitor=chat_visitor, body="Hello?")
    ChatConversation.objects.filter(pk=conversation.pk).update(
        last_message_at=timezone.now() - timedelta(hours=1)
    )
    output = StringIO()

    call_command("close_idle_chats", stdout=output)

    assert output.getvalue().strip() == "Ended 1 idle chat(s)."
    assert ChatConversation.objects.get(pk=conversation.pk).status == "ended"


def test_agent_replies_in_a_live_chat_are_not_emailed_but_are_after_it_ended(
    chat_channel: ChatChannel, django_capture_on_commit_callbacks: Any
) -> None:
    CustomerFactory(name="Ida Identified", email="ida@example.com")
    identity = _identity(chat_channel, "u-1", "ida@example.com")
    visitor, _ = new_visitor(chat_channel, identity=identity)
    conversation, _ = actions.start_conversation(visitor=visitor, body="Where is my parcel?")
    agent = make_agent()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        ticket_actions.add_entry(actor=agent, ticket=conversation.ticket, body="Checking now")
    assert mail.outbox == []

    actions.end_conversation(visitor=visitor, ticket_id=conversation.ticket_id)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        ticket_actions.add_entry(actor=agent, ticket=conversation.ticket, body="It ships today")
    [message] = mail.outbox
    assert message.to == ["ida@example.com"] and "It ships today" in message.body
