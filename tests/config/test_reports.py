"""The report pages: figures from the counters (never the message table), a chart, a CSV."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import create_user

from .report_helpers import reporting_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    return reporting_data()


@pytest.fixture
def staff(client):
    client.force_login(create_user("root", superuser=True))
    return client


def get(client, url, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200, response.content[:500]
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "messaging_outboundmessage" not in sql  # counters only, never a scan of messages
    return response


def rows(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_it_shows_the_program_overview_against_the_previous_period(staff, data):
    response = get(staff, "/admin/reports/program/", program=data["program"].pk)

    page = response.content.decode()
    assert '<svg class="report-chart" id="overview-chart"' in page
    kpis = response.context["kpis"]
    sent = next(k for k in kpis if k["label"] == "Sent")
    assert sent["now"] == "9,000"  # 2,000 today and 14 days of 500 before
    assert sent["before"] == "0" and sent["change"] == "new"
    errors = {e["code"]: e["count"] for e in response.context["errors"]}
    assert errors == {"30003": 14 * 15 + 20, "30007": 40 + 50}
    assert "(carrier filtering)" in page


def test_it_downloads_the_program_overview_per_day(staff, data):
    table = rows(get(staff, "/admin/reports/program/", format="csv"))

    assert table[0][:3] == ["day", "sent", "delivered"]
    assert table[-1][1:3] == ["2000", "1890"]  # today
    assert len(table) == 1 + 28


def test_it_says_so_when_the_dates_are_unusable(staff, data):
    response = get(staff, "/admin/reports/program/", since="2026-13-01")

    assert "Dates must read YYYY-MM-DD" in response.content.decode()


def test_it_reports_a_campaign_funnel_and_names_the_significant_variant(staff, data):
    campaign = data["campaign"]
    response = get(staff, f"/admin/reports/campaigns/{campaign.pk}/")

    funnel = dict(response.context["funnel"])
    assert funnel["Targeted"] == 2050 and funnel["Excluded"] == 50
    assert funnel["Sent"] == 2000 and funnel["Delivered"] == 1890
    comparison = response.context["comparison"]
    assert comparison.metric == "clicks_human" and comparison.winner == "B"
    page = response.content.decode()
    assert 'id="funnel-chart"' in page and 'id="variant-chart"' in page
    assert "Winner: variant B." in page
    table = rows(get(staff, f"/admin/reports/campaigns/{campaign.pk}/", format="csv"))
    assert ["funnel", "Sent", "2000", ""] in table


def test_it_reports_flow_runs_and_leaves_the_success_rate_to_its_event(staff, data):
    response = get(staff, "/admin/reports/flows/")

    (row,) = response.context["rows"]
    assert (row["runs"], row["sends"], row["not_sent"]) == (20, 17, 3)
    assert (row["sent"], row["delivery_rate"], row["human_click_rate"]) == (16, 15 / 16, 3 / 15)
    assert row["success_rate"] is None
    assert 'id="flow-success-hook"' in response.content.decode()
    table = rows(get(staff, "/admin/reports/flows/", format="csv"))
    assert table[0][5:8] == ["sent", "delivery rate", "human click rate"]
    assert table[1][:3] == ["Appointment reminder", "20", "17"] and table[1][5] == "16"


def test_it_compares_each_sender_with_its_seven_day_baseline(staff, data):
    response = get(staff, "/admin/reports/senders/")

    by_name = {r["sender"].name: r for r in response.context["rows"]}
    main = by_name[data["sender"].name]
    assert main["delivery_rate"] == pytest.approx(0.945)
    assert main["baseline_rate"] == pytest.approx(0.97)
    assert main["worse"] is False  # 2.5 points down: within the 5-point band
    assert main["errors"][0]["code"] == "30007"
    assert by_name["Backup line"]["delivery_rate"] is None
    assert rows(get(staff, "/admin/reports/senders/", format="csv"))[0][0] == "sender"


def test_staff_without_access_to_messages_cannot_open_the_program_overview(client, data):
    client.force_login(create_user("sam"))

    assert client.get("/admin/reports/program/").status_code in (302, 403)
