"""Admin smoke tests: every consent model, each persona, each action."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils.html import escape

from consent import services
from consent.models import ConsentEvent, ConsentState, Contact, Suppression
from tests.factories import (
    compliance_approver,
    create_contact,
    create_program,
    create_user,
    marketer,
    opt_in,
    support_agent,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def program():
    return create_program("offers")


@pytest.fixture
def contact(program):
    contact = create_contact(phone="+14155552671", first_name="Ada", last_name="Lovelace")
    opt_in(contact, program)
    return contact


@pytest.fixture
def superuser_client(client):
    client.force_login(create_user("root", superuser=True))
    return client


def login(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "model", ["contact", "program", "disclosure", "consentevent", "suppression", "tag"]
)
def test_it_renders_every_changelist_and_a_search(superuser_client, contact, model):
    url = reverse(f"admin:consent_{model}_changelist")
    assert superuser_client.get(url).status_code == 200
    assert superuser_client.get(url, {"q": "415 555 2671"}).status_code == 200


@pytest.mark.parametrize(
    "query", ["(415) 555-2671", "415.555.2671", "+1 415 555 2671", "14155552671", "Ada"]
)
def test_it_finds_a_contact_by_phone_in_any_format_or_by_name(superuser_client, contact, query):
    create_contact(first_name="Someone", last_name="Else")
    response = superuser_client.get(reverse("admin:consent_contact_changelist"), {"q": query})
    assert list(response.context["cl"].result_list) == [contact]


def test_it_shows_each_programs_consent_in_the_list_without_a_query_per_row(
    superuser_client, program, django_assert_max_num_queries
):
    for _ in range(30):
        opt_in(create_contact(), program)
    url = reverse("admin:consent_contact_changelist")
    with django_assert_max_num_queries(12):
        response = superuser_client.get(url)
    assert response.content.decode().count("✔ offers") == 30


def test_it_never_counts_the_whole_table(superuser_client, contact, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        superuser_client.get(reverse("admin:consent_consentevent_changelist"))
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]


def test_it_pages_forward_without_a_count(superuser_client, program):
    for _ in range(60):
        opt_in(create_contact(), program)
    url = reverse("admin:consent_consentevent_changelist")
    first = superuser_client.get(url).content.decode()
    assert "Next &rarr;" in first
    assert " results" not in first  # no total is claimed, because none is counted
    second = superuser_client.get(url, {"p": 2}).content.decode()
    assert "&larr; Previous" in second and "Next &rarr;" not in second


def test_it_shows_consent_at_a_glance_and_the_ledger_on_the_contact_page(
    superuser_client, contact, program
):
    services.consent_revoke(
        contact=contact,
        programs=[program],
        method="keyword",
        source="STOP to +18335550100",
        evidence={"raw_text": "stop pls"},
    )
    page = superuser_client.get(reverse("admin:consent_contact_change", args=[contact.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="consent-at-a-glance"' in html
    assert "Opted out" in html
    assert "https://acme.example/join" in html  # where they opted in
    assert escape(program.disclosures.get().text) in html  # the disclosure exactly as shown
    assert "stop pls" in html  # raw text in the ledger timeline
    assert 'id="contact-timeline"' in html  # the ledger, within the one timeline


def test_support_records_an_opt_out_from_the_contact_page(client, contact, program):
    agent = support_agent()
    login(client, agent)
    url = reverse("admin:consent_contact_record_opt_out", args=[contact.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"programs": [program.pk], "method": "verbal", "note": "Called in, ticket 881"}
    )
    assert response.status_code == 302
    event = ConsentEvent.objects.get(kind="opt_out")
    assert event.recorded_by == agent
    assert event.method == "verbal"
    assert event.note == "Called in, ticket 881"
    assert ConsentState.objects.get(contact=contact).status == "opted_out"


def test_the_opt_out_form_refuses_an_empty_scope(client, contact):
    login(client, support_agent())
    url = reverse("admin:consent_contact_record_opt_out", args=[contact.pk])
    response = client.post(url, {"method": "verbal", "note": "x"})
    assert response.status_code == 200
    assert "Choose the programs" in response.content.decode()
    assert not ConsentEvent.objects.filter(kind="opt_out").exists()


def test_the_record_opt_out_action_revokes_all_and_suppresses(superuser_client, contact):
    url = reverse("admin:consent_contact_changelist")
    data = {"action": "record_opt_out_action", ACTION_CHECKBOX_NAME: [contact.pk]}
    assert superuser_client.post(url, data).status_code == 200  # the intermediate form
    response = superuser_client.post(
        url, data | {"confirm": "yes", "all_programs": "on", "method": "email", "note": "letter"}
    )
    assert response.status_code == 302
    assert Suppression.objects.filter(phone=contact.phone, program=None).exists()
    assert ConsentState.objects.get(contact=contact).status == "opted_out"


def test_the_erase_action_keeps_the_ledger(superuser_client, contact):
    url = reverse("admin:consent_contact_changelist")
    data = {
        "action": "erase_action",
        ACTION_CHECKBOX_NAME: [contact.pk],
        "confirm": "yes",
        "request_ref": "DSR-1",
        "confirm_erase": "on",
    }
    assert superuser_client.post(url, data).status_code == 302
    contact.refresh_from_db()
    assert contact.erased_at and not contact.first_name
    assert ConsentEvent.objects.filter(contact=contact).count() == 1


def test_support_cannot_erase_export_or_delete(client, contact):
    login(client, support_agent())
    changelist = client.get(reverse("admin:consent_contact_changelist"))
    actions = [name for name, _ in changelist.context["action_form"].fields["action"].choices]
    assert "record_opt_out_action" in actions
    assert "erase_action" not in actions
    assert "delete_selected" not in actions
    assert client.get(reverse("admin:consent_consentevent_export")).status_code == 403
    event = ConsentEvent.objects.get()
    assert (
        client.post(reverse("admin:consent_consentevent_delete", args=[event.pk])).status_code
        == 403
    )


def test_compliance_sees_the_export_form(client, contact):
    login(client, compliance_approver())
    response = client.get(reverse("admin:consent_consentevent_export"))
    assert response.status_code == 200


def test_marketing_cannot_record_opt_outs(client, contact):
    login(client, marketer())
    url = reverse("admin:consent_contact_record_opt_out", args=[contact.pk])
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("persona", [marketer, compliance_approver, support_agent])
def test_nobody_can_change_or_delete_a_ledger_row(client, contact, persona):
    user = persona()
    login(client, user)
    event = ConsentEvent.objects.get()
    change = client.post(
        reverse("admin:consent_consentevent_change", args=[event.pk]), {"note": "rewritten"}
    )
    assert change.status_code in (302, 403)
    assert not user.has_perm("consent.change_consentevent")
    assert not user.has_perm("consent.delete_consentevent")
    event.refresh_from_db()
    assert event.note == ""
    page = client.get(reverse("admin:consent_consentevent_change", args=[event.pk]))
    assert page.status_code == 200  # read-only view


def test_it_adds_a_suppression_through_the_service(superuser_client, program):
    response = superuser_client.post(
        reverse("admin:consent_suppression_add"),
        {"phone": "(415) 555-2671", "reason": "complaint", "program": "", "note": "BBB complaint"},
    )
    assert response.status_code == 302
    suppression = Suppression.objects.get()
    assert suppression.phone == "+14155552671"
    assert suppression.created_by.username == "root"


def test_it_rejects_a_bad_phone_on_a_suppression(superuser_client):
    response = superuser_client.post(
        reverse("admin:consent_suppression_add"),
        {"phone": "555-01", "reason": "complaint", "note": ""},
    )
    assert response.status_code == 200
    assert "is not a valid phone number" in response.content.decode()
    assert not Suppression.objects.exists()


def test_it_lifts_a_suppression_with_a_note(superuser_client):
    suppression = services.suppression_add(phone="+14155552671", reason="manual")
    url = reverse("admin:consent_suppression_changelist")
    data = {
        "action": "lift_action",
        ACTION_CHECKBOX_NAME: [suppression.pk],
        "confirm": "yes",
        "note": "entered in error",
    }
    assert superuser_client.post(url, data).status_code == 302
    suppression.refresh_from_db()
    assert suppression.lifted_at and suppression.lift_note == "entered in error"
    assert (
        superuser_client.get(
            reverse("admin:consent_suppression_change", args=[suppression.pk])
        ).status_code
        == 200
    )


def test_it_finds_an_erased_number_among_suppressions(superuser_client, contact):
    services.contact_erase(contact=contact)
    response = superuser_client.get(
        reverse("admin:consent_suppression_changelist"), {"q": "415-555-2671"}
    )
    assert len(response.context["cl"].result_list) == 1


def test_it_adds_and_edits_a_contact_with_a_normalized_phone(superuser_client):
    response = superuser_client.post(
        reverse("admin:consent_contact_add"),
        {
            "phone": "(415) 555-0134",
            "first_name": "Lin",
            "locale": "en",
            "country": "US",
            "attributes": "{}",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    contact = Contact.objects.get(first_name="Lin")
    assert contact.phone == "+14155550134"
    change = superuser_client.get(reverse("admin:consent_contact_change", args=[contact.pk]))
    assert change.status_code == 200


def test_it_rejects_a_contact_with_a_bad_phone(superuser_client):
    response = superuser_client.post(
        reverse("admin:consent_contact_add"),
        {
            "phone": "12345",
            "first_name": "Lin",
            "locale": "en",
            "country": "US",
            "attributes": "{}",
        },
    )
    assert response.status_code == 200
    assert "“12345” is not a valid phone number" in response.content.decode()
    assert not Contact.objects.exists()


def test_it_freezes_a_referenced_disclosure_in_the_admin(superuser_client, contact, program):
    disclosure = program.disclosures.get()
    page = superuser_client.get(reverse("admin:consent_disclosure_change", args=[disclosure.pk]))
    assert page.status_code == 200
    assert 'name="text"' not in page.content.decode()


def test_program_add_and_change_pages_render(superuser_client, program):
    assert superuser_client.get(reverse("admin:consent_program_add")).status_code == 200
    url = reverse("admin:consent_program_change", args=[program.pk])
    assert superuser_client.get(url).status_code == 200


def test_compliance_downloads_the_opt_out_log_as_a_stream(client, contact, program):
    services.consent_revoke(
        contact=contact,
        programs=[program],
        method="keyword",
        source="STOP to +18335550100",
        evidence={"raw_text": '=HYPERLINK("x")'},
    )
    login(client, compliance_approver())
    response = client.get(
        reverse("admin:consent_consentevent_export"), {"kind": "opt-outs", "format": "csv"}
    )
    assert response.status_code == 200
    assert response.streaming
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert contact.phone in body and "STOP to +18335550100" in body
    assert "'=HYPERLINK" in body  # formula injection neutralised


def test_the_export_form_rejects_an_unknown_kind(client, contact):
    login(client, compliance_approver())
    response = client.get(
        reverse("admin:consent_consentevent_export"), {"kind": "everything", "format": "csv"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
