"""The campaigns app's hand-built statements (`campaigns.sql`) answer as the ORM rules they
stand in for: the verdict per row, the suppression rule of `consent`, the launch summary."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import sql
from campaigns.fanout import fanout_all, fanout_queryset, verdict_expression
from consent import services
from consent.models import Suppression
from messaging.models import OutboundMessage
from tests.factories import create_campaign, create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    program = create_program("offers")
    campaign = create_campaign(program, bodies=["Acme: {attr.tier}. Reply STOP to opt out"])
    gold = {"tier": "gold"}
    opt_in(create_contact(attributes=gold), program)
    opted_out = create_contact(attributes=gold)
    opt_in(opted_out, program)
    services.consent_revoke(contact=opted_out, programs=[program], method="keyword", source="x")
    suppressed = create_contact(attributes=gold)
    opt_in(suppressed, program)
    services.suppression_add(phone=suppressed.phone, reason="complaint")
    lifted = create_contact(attributes=gold)
    opt_in(lifted, program)
    entry = services.suppression_add(phone=lifted.phone, reason="manual")
    services.suppression_lift(suppression=entry, by=None, note="added in error")
    later = create_contact(attributes=gold)
    opt_in(later, program)
    Suppression.objects.create(  # made for a moment still to come: not in force yet
        phone=later.phone, reason="manual", created_at=timezone.now() + timedelta(days=1)
    )
    pending = create_contact(attributes=gold)
    opt_in(pending, create_program("deals", double_opt_in=True), confirmed=False)
    create_contact(attributes=gold)  # never asked
    no_tier = create_contact()
    opt_in(no_tier, program)
    return campaign


def _verdicts_by_sql(campaign) -> dict[int, str]:
    return dict(sql.row_verdicts(fanout_queryset(campaign).values_list("id", *sql.VERDICT_COLUMNS)))


def test_the_verdict_statement_equals_the_orm_expression(campaign):
    by_orm = dict(fanout_queryset(campaign).annotate(v=verdict_expression()).values_list("id", "v"))
    assert _verdicts_by_sql(campaign) == by_orm
    assert sorted(by_orm.values()) == sorted(
        ["", "", "", "opted_out", "suppressed", "no_consent", "no_consent", "missing_token"]
    )


def test_the_suppression_column_is_the_consent_rule(campaign):
    rows = fanout_queryset(campaign).values_list("phone_hash", "m_suppressed")
    program = campaign.program
    for hashed, suppressed in rows:
        assert suppressed == Suppression.objects.suppressing(hashed, program).exists()


def test_the_insert_writes_what_the_verdict_says(campaign):
    expected = dict(
        fanout_queryset(campaign).annotate(v=verdict_expression()).values_list("id", "v")
    )
    fanout_all(campaign)
    written = dict(OutboundMessage.objects.values_list("contact_id", "reason"))
    assert written == expected
