"""Daily counters: bumped where outcomes happen, squashed without changing a total, and equal to
a rebuild from the raw tables."""

import itertools
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from campaigns.fanout import fanout_all
from config.lib.process_cache import clear_all as clear_process_caches
from messaging import counters
from messaging.callbacks import status_callback_receive
from messaging.dispatch import Dispatcher, claim_due
from messaging.inbound import inbound_receive
from messaging.models import DailyCount, OutboundMessage
from messaging.prices import prices_fetch
from messaging.providers import ProviderError, SendResult
from messaging.reconcile import reconcile_expired_leases
from tests.factories import create_campaign, create_contact, create_program, opt_in

from .twilio_helpers import inbound_params, new_sid, status_params

pytestmark = pytest.mark.django_db

_sids = itertools.count(1)


class Provider:
    """Accepts every message but the ones told to fail; prices some at hand-off, some later."""

    def __init__(self, refuse: dict[str, ProviderError], priced: set[str]):
        self.refuse = refuse
        self.priced = priced
        self.later: dict[str, Decimal] = {}

    def send(self, request):
        if request.to in self.refuse:
            raise self.refuse[request.to]
        sid = new_sid()
        if request.to in self.priced:
            return SendResult(provider_sid=sid, price=Decimal("-0.02000"), price_unit="USD")
        self.later[sid] = Decimal("-0.01000")
        return SendResult(provider_sid=sid)

    def find_sent(self, request, *, since):
        return None

    def fetch_price(self, sid):
        return (self.later[sid], "USD") if sid in self.later else None


def sums() -> dict[tuple, int]:
    rows = (
        DailyCount.objects.values_list("day", "scope", "key", "metric")
        .annotate(n=Sum("count"))
        .order_by()
    )
    return {(day, scope, key, metric): n for day, scope, key, metric, n in rows if n}


def by_scope(totals: dict, scope: str, key: int) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for (_day, s, k, metric), n in totals.items():
        if (s, k) == (scope, key):
            out[metric] += n
    return dict(out)


@pytest.fixture
def varied(settings):
    """A two-variant campaign sent to 12 people: delivered, filtered (30007), failed, expired,
    refused at hand-off, a carrier opt-out (21610), a STOP, a reply; prices now and later."""
    settings.SMS_PRICE_PER_SEGMENT = {"10dlc": "0.0050"}
    clear_process_caches()
    program = create_program("offers")
    campaign = create_campaign(
        program, status="sending", bodies=["Acme: sale today. Reply STOP to opt out.",
                                           "Acme: 20% off today. Reply STOP to opt out."]
    )  # fmt: skip
    contacts = [create_contact() for _ in range(12)]
    for contact in contacts:
        opt_in(contact, program)
    fanout_all(campaign)
    phones = [c.phone for c in contacts]
    provider = Provider(
        refuse={phones[0]: ProviderError("invalid", transient=False, code=21211)},
        priced={phones[1], phones[2]},
    )
    Dispatcher(backend=provider, sleep=lambda s: None, policy_hold=lambda m, now: None).run_batch()
    sent = {m.to: m for m in OutboundMessage.objects.filter(provider_sid__isnull=False)}
    outcomes = {
        phones[1]: ("delivered", None),
        phones[2]: ("delivered", None),
        phones[3]: ("delivered", None),
        phones[4]: ("undelivered", 30007),
        phones[5]: ("undelivered", 30007),
        phones[6]: ("failed", 30003),
        phones[7]: ("failed", 30036),  # expired
        phones[8]: ("failed", 21610),  # opted out at the carrier
        phones[9]: ("delivered", None),
        phones[10]: ("delivered", None),
    }
    for phone, (status, code) in outcomes.items():
        message = sent[phone]
        status_callback_receive(
            params=status_params(message.provider_sid, status, to=phone, error_code=code)
        )
    # A repeated callback changes nothing, counters included.
    status_callback_receive(
        params=status_params(sent[phones[1]].provider_sid, "delivered", to=phones[1])
    )
    sender = campaign.senders.get()
    inbound_receive(params=inbound_params("STOP", from_=phones[9], to=sender.phone_number))
    inbound_receive(params=inbound_params("Is it on shoes too?", from_=phones[10],
                                          to=sender.phone_number))  # fmt: skip
    last_sent = OutboundMessage.objects.filter(sent_at__isnull=False).latest("sent_at").sent_at
    prices_fetch(backend=provider, now=last_sent + timedelta(hours=1))
    clear_process_caches()
    return campaign


def test_it_counts_each_outcome_where_it_happens(varied):
    totals = by_scope(sums(), "campaign", varied.pk)

    assert totals["sent"] == 11  # 12 people, one refused at hand-off
    assert totals["rejected"] == 1 and totals["error:21211"] == 1
    assert totals["delivered"] == 5
    assert totals["undelivered"] == 2 and totals["error:30007"] == 2
    assert totals["failed"] == 3  # 30003, 21610, and the refusal
    assert totals["error:30003"] == 1 and totals["error:21610"] == 1
    assert totals["expired"] == 1
    assert totals["opt_outs"] == 2  # the STOP and the carrier's 21610
    assert totals["replies"] == 1
    # Two priced at hand-off (0.02), nine at 0.01 once their price arrived.
    assert totals["cost_micros"] == 2 * 20_000 + 9 * 10_000
    variants = {v.pk for v in varied.variants.all()}
    assert sum(by_scope(sums(), "variant", v).get("sent", 0) for v in variants) == 11
    assert by_scope(sums(), "program", varied.program_id)["sent"] == 11


def test_it_keeps_every_total_when_squashed(varied):
    before = sums()
    assert DailyCount.objects.filter(is_squashed=False).exists()

    counters.squash_all()

    assert sums() == before
    assert not DailyCount.objects.filter(is_squashed=False).exists()
    assert DailyCount.objects.count() == len(before)  # one row per key


def test_it_rebuilds_the_same_counts_from_the_raw_tables(varied):
    incremental = sums()

    call_command("counters_rebuild", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert sums() == incremental
    assert by_scope(incremental, "campaign", varied.pk)["sent"] == 11


def test_it_counts_the_estimate_until_the_price_is_known(settings):
    settings.SMS_PRICE_PER_SEGMENT = {"10dlc": "0.0050"}
    program = create_program("offers")
    campaign = create_campaign(program, status="sending")
    contact = create_contact()
    opt_in(contact, program)
    fanout_all(campaign)
    provider = Provider(refuse={}, priced=set())
    Dispatcher(backend=provider, sleep=lambda s: None, policy_hold=lambda m, now: None).run_batch()

    assert by_scope(sums(), "campaign", campaign.pk)["cost_micros"] == 5_000


def test_a_send_found_by_reconciliation_is_counted_once(settings):
    program = create_program("offers")
    campaign = create_campaign(program, status="sending")
    opt_in(create_contact(), program)
    fanout_all(campaign)
    [message] = claim_due(limit=1)
    OutboundMessage.objects.filter(pk=message.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    class Found:
        def find_sent(self, request, *, since):
            return SendResult(provider_sid="SMfoundbyreconcile")

    reconcile_expired_leases(backend=Found())
    incremental = sums()
    counters.rebuild()

    assert by_scope(incremental, "campaign", campaign.pk)["sent"] == 1
    assert sums() == incremental
