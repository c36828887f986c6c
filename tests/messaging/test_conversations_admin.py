"""Admin smoke tests: inbound messages, status callbacks, conversations and revocation reviews."""

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from consent import services
from consent.models import ConsentEvent, ConsentState
from messaging.models import Conversation, InboundMessage, OutboundMessage, RevocationReview
from tests.factories import (
    compliance_approver,
    create_contact,
    create_user,
    marketer,
    opt_in,
    support_agent,
)

from .twilio_helpers import (
    INBOUND_PATH,
    STATUS_PATH,
    inbound_params,
    new_sid,
    post_signed,
    status_params,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(offers):
    contact = create_contact(first_name="Ada", last_name="Lovelace")
    opt_in(contact, offers)
    return contact


@pytest.fixture
def conversation(client, sender, contact) -> Conversation:
    """Ada wrote "Is my order ready?", and "not interested" (a review); one status callback."""
    post_signed(client, INBOUND_PATH, inbound_params("Is my order ready?", from_=contact.phone))
    post_signed(client, INBOUND_PATH, inbound_params("not interested", from_=contact.phone))
    post_signed(client, STATUS_PATH, status_params(new_sid(), "delivered", to=contact.phone))
    return Conversation.objects.get()


@pytest.fixture
def review(conversation) -> RevocationReview:
    return RevocationReview.objects.get()


@pytest.fixture
def root(client):
    user = create_user("root", superuser=True)
    client.force_login(user)
    return user


@pytest.fixture
def agent(client):
    user = support_agent()
    client.force_login(user)
    return user


def url(name: str, *args) -> str:
    return reverse(f"admin:messaging_{name}", args=args)


def action(client, model: str, name: str, objects, **data):
    payload = {"action": name, ACTION_CHECKBOX_NAME: [o.pk for o in objects], **data}
    return client.post(url(f"{model}_changelist"), payload, follow=True)


# --- Every admin renders --------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["inboundmessage", "statuscallback", "conversation", "revocationreview"]
)
def test_it_renders_every_changelist_with_a_search_and_no_count(client, root, conversation, model):
    changelist = url(f"{model}_changelist")

    response = client.get(changelist)
    assert response.status_code == 200
    assert client.get(changelist, {"q": "(415) 200-0000"}).status_code == 200
    assert client.get(changelist, {"q": "SM0000"}).status_code == 200
    assert b"Show all" not in response.content


@pytest.mark.parametrize(
    "model", ["inboundmessage", "statuscallback", "conversation", "revocationreview"]
)
def test_it_never_counts_a_big_table(client, root, conversation, model):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(f"{model}_changelist"))

    assert response.status_code == 200
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.parametrize("model", ["inboundmessage", "statuscallback", "revocationreview"])
def test_it_renders_every_record_read_only(client, root, conversation, model):
    from messaging import models

    obj = getattr(
        models,
        {
            "inboundmessage": "InboundMessage",
            "statuscallback": "StatusCallback",
            "revocationreview": "RevocationReview",
        }[model],
    ).objects.first()

    response = client.get(url(f"{model}_change", obj.pk))

    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    assert client.get(url(f"{model}_add")).status_code == 403


def test_it_finds_inbound_messages_by_phone_in_any_format(client, root, conversation, contact):
    national = f"({contact.phone[2:5]}) {contact.phone[5:8]}-{contact.phone[8:]}"

    response = client.get(url("inboundmessage_changelist"), {"q": national})

    assert response.context["cl"].result_list.count() == 2
    assert b"Is my order ready?" in response.content


def test_it_shows_the_conversation_history_with_consent_and_delivery(
    client, root, conversation, offers
):
    OutboundMessage.objects.create(
        contact=conversation.contact,
        to=conversation.contact.phone,
        sender=conversation.sender,
        program=offers,
        message_type="customer_care",
        kind="agent_reply",
        body="It ships tomorrow.",
        status="delivered",
        provider_sid=new_sid(),
    )

    response = client.get(url("conversation_change", conversation.pk))

    assert response.status_code == 200
    history = response.context["history"]
    assert [item.body for item in history] == [
        "Is my order ready?",
        "not interested",
        "It ships tomorrow.",
    ]
    assert history[1].state == "Possible revocation (review): Pending"
    assert history[2].state == "Delivered"
    assert "offers: Opted in now" in history[2].detail
    assert b"Thanks, on it" in response.content  # canned responses offered
    assert b'name="_save"' not in response.content


# --- Conversation actions -------------------------------------------------------------------


def test_it_assigns_closes_and_reopens_from_the_changelist(client, agent, conversation):
    action(client, "conversation", "assign_to_me_action", [conversation])
    conversation.refresh_from_db()
    assert conversation.assignee == agent

    response = action(client, "conversation", "close_action", [conversation])
    conversation.refresh_from_db()
    assert conversation.status == "closed" and conversation.closed_at is not None
    assert b"done 1, skipped 0" in response.content

    response = action(client, "conversation", "close_action", [conversation])
    assert b"done 0, skipped 1" in response.content

    action(client, "conversation", "reopen_action", [conversation])
    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.closed_at is None
    assert LogEntry.objects.filter(user=agent).count() == 3


@pytest.mark.parametrize(("what", "expected"), [("assign-to-me", "open"), ("close", "closed")])
def test_it_offers_the_same_transitions_as_buttons(client, agent, conversation, what, expected):
    response = client.post(url("conversation_transition", conversation.pk, what), follow=True)

    assert response.status_code == 200
    conversation.refresh_from_db()
    assert conversation.status == expected
    assert client.get(url("conversation_transition", conversation.pk, what)).status_code == 405


def test_it_queues_an_agent_reply_as_customer_care(client, agent, conversation):
    response = client.post(
        url("conversation_reply", conversation.pk), {"body": "It ships tomorrow."}, follow=True
    )

    assert b"Reply queued" in response.content
    reply = OutboundMessage.objects.get(kind="agent_reply")
    assert (reply.status, reply.message_type, reply.body) == (
        "queued",
        "customer_care",
        "It ships tomorrow.",
    )
    assert reply.in_reply_to == InboundMessage.objects.order_by("-id").first()
    assert reply.sender == conversation.sender
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == ("waiting", agent)


def test_it_sends_a_canned_response_when_nothing_is_typed(client, agent, conversation):
    client.post(url("conversation_reply", conversation.pk), {"canned": "1", "body": ""})

    assert OutboundMessage.objects.get(kind="agent_reply").body.startswith("Could you tell us")


def test_it_blocks_a_reply_to_an_opted_out_number_and_says_why(
    client, agent, conversation, contact, offers
):
    services.consent_revoke(contact=contact, programs=[offers], method="api", source="test")

    response = client.post(
        url("conversation_reply", conversation.pk), {"body": "Are you sure?"}, follow=True
    )

    assert b"Not sent: Opted out" in response.content
    reply = OutboundMessage.objects.get(kind="agent_reply")
    assert (reply.status, reply.reason) == ("blocked", "opted_out")
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_it_refuses_an_empty_reply(client, agent, conversation):
    response = client.post(url("conversation_reply", conversation.pk), {"body": " "}, follow=True)

    assert b"Write a reply first." in response.content
    assert not OutboundMessage.objects.filter(kind="agent_reply").exists()


def test_it_lets_compliance_read_conversations_but_not_act(client, conversation):
    client.force_login(compliance_approver())

    assert client.get(url("conversation_change", conversation.pk)).status_code == 200
    response = client.post(url("conversation_reply", conversation.pk), {"body": "hi"})
    assert response.status_code == 403
    assert client.get(url("conversation_changelist")).status_code == 200


def test_it_keeps_marketing_out_of_conversations(client, conversation):
    client.force_login(marketer())

    assert client.get(url("conversation_changelist")).status_code == 403


# --- Revocation reviews ---------------------------------------------------------------------


def test_it_highlights_overdue_reviews(client, agent, review):
    RevocationReview.objects.filter(pk=review.pk).update(
        deadline=timezone.now() - timedelta(hours=1)
    )

    response = client.get(url("revocationreview_changelist"))
    overdue = client.get(url("revocationreview_changelist"), {"due": "overdue"})

    assert b"overdue</strong>" in response.content
    assert list(overdue.context["cl"].result_list) == [review]


def test_it_treats_a_reviewed_message_as_an_opt_out(client, agent, review, contact, offers):
    name = "revoked_action"
    form = action(client, "revocationreview", name, [review])
    assert b"Treat as opt-out" in form.content  # the intermediate page asks for a note

    response = action(
        client, "revocationreview", name, [review], confirm="yes", note="Clearly wants out"
    )

    assert b"done 1, skipped 0" in response.content
    review.refresh_from_db()
    assert (review.status, review.decided_by, review.note) == (
        "revoked",
        agent,
        "Clearly wants out",
    )
    assert review.decided_at is not None
    event = ConsentEvent.objects.get(kind="opt_out", program=offers)
    assert event.method == "keyword"
    assert event.recorded_by == agent
    assert event.evidence["review_id"] == review.pk
    assert event.occurred_at == review.inbound.received_at
    assert ConsentState.objects.get(contact=contact, program=offers).status == "opted_out"


def test_it_closes_a_review_that_is_not_a_revocation(client, agent, review, contact, offers):
    response = action(
        client, "revocationreview", "not_revocation_action", [review], confirm="yes", note="Joke"
    )

    assert b"done 1, skipped 0" in response.content
    review.refresh_from_db()
    assert (review.status, review.decided_by) == ("not_revocation", agent)
    assert not ConsentEvent.objects.filter(kind="opt_out").exists()
    again = action(client, "revocationreview", "revoked_action", [review], confirm="yes")
    assert b"done 0, skipped 1" in again.content  # decided once, by one person
