"""Flow admin as marketing and compliance see it; events and runs read-only, never counted."""

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Flow, FlowRun
from tests.factories import compliance_approver, create_contact, create_template, marketer

from .flow_helpers import fire, make_flow, program_with_sender, subscriber

pytestmark = pytest.mark.django_db

PHONE = "+14155552671"


@pytest.fixture
def service():
    return program_with_sender()


@pytest.fixture
def fired(service):
    """A reminder flow that ran for one subscriber (queued) and one stranger (blocked)."""
    flow = make_flow(
        service, name="Appointment reminder", anchor="appointment_at", offset=timedelta(hours=-24)
    )
    data = {"appointment_at": (timezone.now() + timedelta(days=3)).isoformat()}
    fire(subscriber(service, phone=PHONE), data=data)
    fire(create_contact(), data=data)
    return flow


@pytest.fixture
def as_marketer(client):
    client.force_login(marketer())
    return client


@pytest.fixture
def as_compliance(client):
    client.force_login(compliance_approver())
    return client


def flow_form(flow_or_none=None, **fields):
    base = {
        "name": "Website lead welcome",
        "description": "",
        "active": "on",
        "trigger": "lead.created",
        "conditions": "[]",
        "program": "",
        "template": "",
        "anchor": "",
        "offset": "0",
        "max_lateness": "01:00:00",
    }
    return base | fields


@pytest.mark.parametrize("persona", ["marketer", "compliance"])
@pytest.mark.parametrize(
    "url",
    [
        "admin:campaigns_flow_changelist",
        "admin:campaigns_flowevent_changelist",
        "admin:campaigns_flowrun_changelist",
    ],
)
def test_each_list_renders_and_searches_by_phone_for_both_personas(client, fired, persona, url):
    client.force_login(marketer() if persona == "marketer" else compliance_approver())
    page = client.get(reverse(url))
    assert page.status_code == 200
    found = client.get(reverse(url), {"q": "(415) 555-2671"})
    assert found.status_code == 200


def test_the_flow_list_shows_trigger_template_version_timing_and_weekly_runs(
    as_compliance, fired, django_assert_max_num_queries
):
    make_flow(fired.program, name="Lead welcome", trigger="lead.created", approved=False)
    with django_assert_max_num_queries(10):
        html = as_compliance.get(reverse("admin:campaigns_flow_changelist")).content.decode()
    assert "appointment.booked" in html and fired.template.name in html
    assert f"v{fired.template.approved_version.number}" in html
    assert "1 day before appointment_at" in html
    assert '<td class="field-runs_7d">2</td>' in html
    assert "none: sends nothing" in html  # the lead welcome's template is not approved


def test_the_flow_page_shows_the_approved_text_and_recent_runs(as_compliance, fired):
    html = as_compliance.get(
        reverse("admin:campaigns_flow_change", args=[fired.pk])
    ).content.decode()
    assert fired.template.approved_version.body.split("{")[0] in html
    assert "Queued" in html and "no_consent" in html
    assert 'name="_save"' not in html  # compliance reviews, marketing edits


def test_event_and_run_pages_are_read_only_with_their_outcomes(as_marketer, fired):
    run = FlowRun.objects.filter(outcome="blocked").get()
    html = as_marketer.get(
        reverse("admin:campaigns_flowevent_change", args=[run.event_id])
    ).content.decode()
    assert "no_consent" in html and 'name="_save"' not in html
    html = as_marketer.get(
        reverse("admin:campaigns_flowrun_change", args=[run.pk])
    ).content.decode()
    assert "Blocked" in html and 'name="_save"' not in html
    for model in ("flowevent", "flowrun"):
        assert as_marketer.get(reverse(f"admin:campaigns_{model}_add")).status_code == 403


def test_big_table_lists_never_count_the_whole_table(as_compliance, fired):
    for model in ("flowevent", "flowrun"):
        with CaptureQueriesContext(connection) as queries:
            assert (
                as_compliance.get(reverse(f"admin:campaigns_{model}_changelist")).status_code == 200
            )
        assert not [q for q in queries if "COUNT(" in q["sql"].upper()], model


def test_a_marketer_adds_a_flow(as_marketer, service):
    template = create_template(service, name="Lead welcome", category="transactional")
    response = as_marketer.post(
        reverse("admin:campaigns_flow_add"),
        flow_form(
            program=service.pk,
            template=template.pk,
            conditions='[{"field": "data.source", "op": "eq", "value": "website"}]',
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    flow = Flow.objects.get()
    assert flow.created_by.username == "mia_marketing"
    assert flow.conditions == [{"field": "data.source", "op": "eq", "value": "website"}]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"conditions": '[{"field": "source", "op": "eq", "value": 1}]'}, "conditions", "field"),
        ({"conditions": '{"op": "eq"}'}, "conditions", "A list of"),
        ({"trigger": "Lead Created"}, "trigger", "event type"),
        ({"offset": "-1 00:00:00"}, "offset", "needs an anchor"),
        ({"anchor": "appointment at"}, "anchor", "A key of the event"),
        ({"offset": "120 00:00:00"}, "offset", "At most 90 days"),
        ({"trigger": "consent.opted_in", "anchor": "at"}, "anchor", "no times"),
        ({"other_program": True}, "template", "another program"),
    ],
)
def test_the_flow_form_names_the_field_at_fault_and_saves_nothing(
    as_marketer, service, fields, field, message
):
    template = create_template(service, name="Lead welcome", category="transactional")
    if fields.pop("other_program", False):
        template = create_template(program_with_sender("alerts"), name="Elsewhere")
    response = as_marketer.post(
        reverse("admin:campaigns_flow_add"),
        flow_form(program=service.pk, template=template.pk, **fields),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert not Flow.objects.exists()


def test_deactivate_and_activate_actions_report_done_and_skipped(as_marketer, fired, service):
    unapproved = make_flow(service, name="Draft flow", approved=False, active=False)
    url = reverse("admin:campaigns_flow_changelist")

    page = as_marketer.post(
        url,
        {"action": "deactivate_action", ACTION_CHECKBOX_NAME: [fired.pk, unapproved.pk]},
        follow=True,
    )
    assert "Deactivate: done 1, skipped 1." in page.content.decode()
    fired.refresh_from_db()
    assert fired.active is False

    page = as_marketer.post(
        url,
        {"action": "activate_action", ACTION_CHECKBOX_NAME: [fired.pk, unapproved.pk]},
        follow=True,
    )
    html = page.content.decode()
    assert "Activate: done 1, skipped 1." in html and "no approved version" in html
    fired.refresh_from_db()
    unapproved.refresh_from_db()
    assert (fired.active, unapproved.active) == (True, False)


def test_compliance_can_neither_add_nor_switch_flows(as_compliance, fired):
    assert as_compliance.get(reverse("admin:campaigns_flow_add")).status_code == 403
    as_compliance.post(
        reverse("admin:campaigns_flow_changelist"),
        {"action": "deactivate_action", ACTION_CHECKBOX_NAME: [fired.pk]},
    )
    fired.refresh_from_db()
    assert fired.active is True
