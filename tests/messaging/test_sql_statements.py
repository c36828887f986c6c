"""The messaging app's hand-built statements (`messaging.sql`) do what the ORM expressions
they stand in for do."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Case, Value, When
from django.utils import timezone

from consent.models import Contact
from messaging import sql
from messaging.consent_effects import cancel_waiting_messages
from messaging.keyword_replies import GATE_EXEMPT_REASONS
from messaging.models import HoldReason, MessageKind, MessageStatus, OutboundMessage
from messaging.models.outbound import WAITING
from tests.factories import create_api_client, create_contact, create_program

pytestmark = pytest.mark.django_db

_sids = itertools.count(1)


def message(contact, program, *, status="queued", reason="", kind=MessageKind.CAMPAIGN, **more):
    return OutboundMessage.objects.create(
        contact=contact,
        to=contact.phone,
        program=program,
        message_type=program.message_type,
        kind=kind,
        body="Acme: hello. Reply STOP to opt out",
        status=status,
        reason=reason,
        **more,
    )


def test_the_contact_look_up_finds_what_the_orm_finds():
    contact = create_contact()
    for phone in (contact.phone, "+14155550000"):
        with connection.cursor() as cursor:
            cursor.execute(sql.contact_id_sql(), [phone])
            row = cursor.fetchone()
        expected = Contact.objects.filter(phone=phone).values_list("pk", flat=True).first()
        assert (row[0] if row else None) == expected


@pytest.mark.parametrize("scope", ["all", "one"])
def test_the_cancel_statement_cancels_what_the_orm_filter_selects(scope):
    offers, alerts = create_program("offers"), create_program("alerts")
    contact, other = create_contact(), create_contact()
    for person, program in itertools.product((contact, other), (offers, alerts)):
        message(person, program)
        message(person, program, status="held", reason=HoldReason.QUIET_HOURS)
        message(person, program, status="sent", provider_sid=f"SM{next(_sids):032d}")
        message(person, program, kind=MessageKind.AUTO_REPLY, reason="stop_confirmation")
        message(person, program, kind=MessageKind.AUTO_REPLY, reason="")
    programs = None if scope == "all" else [offers]
    expected = OutboundMessage.objects.filter(contact=contact, status__in=WAITING).exclude(
        kind=MessageKind.AUTO_REPLY, reason__in=GATE_EXEMPT_REASONS
    )
    if programs:
        expected = expected.filter(program__in=programs)
    expected_ids = set(expected.values_list("pk", flat=True))
    assert expected_ids

    assert cancel_waiting_messages(contact=contact, programs=programs) == len(expected_ids)
    cancelled = OutboundMessage.objects.filter(status=MessageStatus.CANCELLED)
    assert set(cancelled.values_list("pk", flat=True)) == expected_ids


def test_the_sent_update_writes_what_the_guarded_orm_update_writes():
    program, contact = create_program("offers"), create_contact()
    lease = timezone.now() + timedelta(minutes=2)
    at = timezone.now()
    names = ("provider_sid", "sent_at")
    for reason, still_ours in itertools.product(["quiet_hours", "help_reply", ""], [True, False]):
        pair = [
            message(contact, program, status="sending", reason=reason, lease_expires_at=lease)
            for _ in range(2)
        ]
        asked_lease = lease if still_ours else lease - timedelta(seconds=1)
        by_sql, by_orm = pair
        with connection.cursor() as cursor:
            cursor.execute(
                sql.sent_update_sql(names),
                [
                    MessageStatus.SENT.value,
                    *HoldReason.values,
                    f"SM{next(_sids):032d}",
                    connection.ops.adapt_datetimefield_value(at),
                    by_sql.pk,
                    MessageStatus.SENDING.value,
                    connection.ops.adapt_datetimefield_value(asked_lease),
                ],
            )
        OutboundMessage.objects.filter(
            pk=by_orm.pk, status=MessageStatus.SENDING, lease_expires_at=asked_lease
        ).update(
            status=MessageStatus.SENT,
            reason=Case(When(reason__in=HoldReason.values, then=Value("")), default="reason"),
            lease_expires_at=None,
            provider_sid=f"SM{next(_sids):032d}",
            sent_at=at,
        )
        fields = ("status", "reason", "lease_expires_at", "sent_at")
        by_sql.refresh_from_db()
        by_orm.refresh_from_db()
        assert [getattr(by_sql, f) for f in fields] == [getattr(by_orm, f) for f in fields]
        assert (by_sql.status == "sent") == still_ours


def test_the_subscription_statement_reads_what_the_orm_filter_reads():
    from messaging.models import WebhookSubscription
    from messaging.partner_webhooks import _enabled_subscriptions

    client, _key = create_api_client(scopes=["consent:read"])
    for active, disabled_at in itertools.product([True, False], [None, timezone.now()]):
        WebhookSubscription.objects.create(
            client=client,
            url="https://partner.example/hook",
            events=["consent.opted_out"],
            active=active,
            disabled_at=disabled_at,
        )
    expected = list(
        WebhookSubscription.objects.filter(active=True, disabled_at__isnull=True)
        .order_by("pk")
        .values_list("id", "events")
    )
    assert sorted(_enabled_subscriptions()) == expected
    assert len(expected) == 1
