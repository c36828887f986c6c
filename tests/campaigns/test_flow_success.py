"""A flow names its success (an event such as appointment.confirmed, or replies such as C / YES)
and reports the share of its sends that were followed by it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.flow_rules import flow_problems
from campaigns.models import Flow, FlowRun
from campaigns.selectors import flow_success
from config.reports import Period, flow_report
from consent.models import ConsentState
from messaging import counters
from messaging.inbound import inbound_receive
from messaging.models import DailyCount, InboundMessage
from tests.factories import create_program, opt_in
from tests.messaging.twilio_helpers import inbound_params

from .flow_helpers import fire, make_flow, program_with_sender, subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def service():
    return program_with_sender()


def booked(contact):
    in_three_days = (timezone.now() + timedelta(days=3)).isoformat()
    _, runs = fire(contact, data={"appointment_at": in_three_days})
    return runs


def test_the_success_event_marks_the_persons_run(service):
    flow = make_flow(service, success_event="appointment.confirmed")
    confirmed, silent = subscriber(service), subscriber(service)
    booked(confirmed)
    booked(silent)

    fire(confirmed, type="appointment.confirmed")

    assert FlowRun.objects.get(contact=confirmed).succeeded_at is not None
    assert FlowRun.objects.get(contact=silent).succeeded_at is None
    result = flow_success(flow)
    assert (result.sent, result.succeeded, result.rate) == (2, 1, 0.5)


def test_an_event_after_the_success_window_does_not_count(service):
    flow = make_flow(service, success_event="appointment.confirmed")
    person = subscriber(service)
    booked(person)
    fire(person, type="appointment.confirmed", occurred_at=timezone.now() + timedelta(days=8))
    assert flow_success(flow).succeeded == 0


def text(service, person, body: str, *, after: timedelta | None = None) -> InboundMessage:
    """`person` texts `body` to the program's number, now or `after` from now."""
    params = inbound_params(body, from_=person.phone, to=service.senders.get().phone_number)
    inbound_receive(params=params, received_at=timezone.now() + after if after else None)
    return InboundMessage.objects.get(provider_sid=params["MessageSid"])


def successes(flow) -> int:
    rows = DailyCount.objects.filter(scope="flow", key=flow.pk, metric="flow_success")
    return rows.aggregate(n=Sum("count"))["n"] or 0


def test_a_success_reply_in_any_case_marks_the_run_and_counts_once(service):
    flow = make_flow(service, success_replies=["C", "YES"])
    replied, silent = subscriber(service), subscriber(service)
    booked(replied)
    booked(silent)

    first = text(service, replied, " yes ")
    text(service, replied, "YES")

    assert FlowRun.objects.get(contact=replied).succeeded_at == first.received_at
    assert FlowRun.objects.get(contact=silent).succeeded_at is None
    assert successes(flow) == 1
    result = flow_success(flow)
    assert (result.sent, result.succeeded) == (2, 1)


def test_a_late_reply_another_word_or_another_persons_reply_marks_nothing(service):
    flow = make_flow(service, success_replies=["C"])
    late, chatty, stranger = subscriber(service), subscriber(service), subscriber(service)
    booked(late)
    booked(chatty)

    text(service, late, "C", after=timedelta(days=8))
    text(service, chatty, "C is fine")
    text(service, stranger, "C")  # no run of their own; nobody else's run is theirs to mark

    assert not FlowRun.objects.filter(succeeded_at__isnull=False).exists()
    assert successes(flow) == 0
    assert flow_success(flow).succeeded == 0


def test_a_success_reply_is_handled_as_usual_too(service):
    make_flow(service, success_replies=["YES"])
    news = create_program("news", double_opt_in=True)  # on the same number, yet to be confirmed
    service.senders.get().programs.add(news)
    person = subscriber(service)
    opt_in(person, news, confirmed=False)
    booked(person)

    text(service, person, "yes")

    assert FlowRun.objects.get(contact=person).succeeded_at is not None
    assert ConsentState.objects.get(contact=person, program=news).status == "opted_in"


def test_keywords_and_other_replies_ask_the_flows_nothing_they_need_not(service):
    make_flow(service, success_replies=["C"])
    person = subscriber(service)
    booked(person)

    def tables(body: str) -> str:
        with CaptureQueriesContext(connection) as queries:
            text(service, person, body)
        return " ".join(q["sql"] for q in queries.captured_queries)

    assert "campaigns_flow" not in tables("HELP")  # never told: not even the flows are read
    assert "campaigns_flowrun" not in tables("see you then")  # the success replies, read once
    assert "campaigns_flow" not in tables("START")  # not one of them: nothing asked
    assert "campaigns_flowrun" in tables("c")
    assert "campaigns_flow" not in tables("STOP")


def test_without_success_replies_a_reply_reads_the_flows_once_per_process(service):
    make_flow(service, success_event="appointment.confirmed")
    person = subscriber(service)
    booked(person)
    text(service, person, "C")

    with CaptureQueriesContext(connection) as queries:
        text(service, person, "C")

    assert "campaigns_flow" not in " ".join(q["sql"] for q in queries.captured_queries)


def test_the_rebuild_counts_a_success_reply_as_the_reply_did(service):
    flow = make_flow(service, success_replies=["C"])
    for person in (subscriber(service), subscriber(service)):
        booked(person)
        text(service, person, "C")
    text(service, person, "c", after=timedelta(hours=3))

    def flow_counts() -> dict:
        rows = DailyCount.objects.filter(scope="flow", key=flow.pk).values_list("day", "metric")
        return {(day, metric): n for day, metric, n in rows.annotate(n=Sum("count")).order_by()}

    incremental = flow_counts()
    counters.rebuild()
    assert flow_counts() == incremental
    assert successes(flow) == 2


def test_the_flow_report_counts_success_replies(service):
    flow = make_flow(service, success_replies=["C"])
    replied, silent = subscriber(service), subscriber(service)
    booked(replied)
    booked(silent)
    text(service, replied, "C")

    today = timezone.now().date()
    report = flow_report(Period(today - timedelta(days=1), today + timedelta(days=1)))

    (row,) = [r for r in report["rows"] if r["flow"] == flow]
    assert (row["sends"], row["successes"], row["success_rate"]) == (2, 1, 0.5)


def test_a_flow_that_names_its_success_shows_a_rate_before_any_success(service):
    flow = make_flow(service, success_replies=["C"])
    booked(subscriber(service))

    today = timezone.now().date()
    (row,) = flow_report(Period(today, today))["rows"]

    assert row["flow"] == flow and row["success_rate"] == 0


def test_an_opt_out_or_help_keyword_is_never_a_success_reply(service):
    flow = Flow(success_replies=["C", "stop", "Help"])

    assert flow_problems(flow)["success_replies"] == [
        "stop is an opt-out or HELP keyword: it is never a flow's success.",
        "Help is an opt-out or HELP keyword: it is never a flow's success.",
    ]
    assert "success_replies" not in flow_problems(Flow(success_replies=["C", "YES"]))


def test_a_flow_without_a_success_names_no_rate(service):
    flow = make_flow(service)
    booked(subscriber(service))
    assert flow_success(flow) is None


def test_a_success_event_is_counted_for_the_flow_report_and_rebuilt_alike(service):
    flow = make_flow(service, success_event="appointment.confirmed")
    confirmed, silent = subscriber(service), subscriber(service)
    booked(confirmed)
    booked(silent)

    fire(confirmed, type="appointment.confirmed")

    assert successes(flow) == 1
    counters.rebuild()
    assert successes(flow) == 1
