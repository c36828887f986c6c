"""The sender page says who answers STOP/HELP/START; the reassigned checks page warns when
look-ups cannot answer."""

import pytest
from django.utils import timezone

from messaging.models import ReassignedNumberCheck
from tests.factories import create_program, create_sender, create_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(create_user("root", superuser=True))
    return client


def test_it_shows_who_answers_keywords_by_kind_and_by_choice(admin_client):
    program = create_program("offers")
    create_sender(program, name="Long code", kind="10dlc")
    create_sender(program, name="Short code", kind="short_code")
    create_sender(program, name="Toll-free, filtering off", kind="toll_free", keyword_replies="us")

    page = admin_client.get("/admin/messaging/sender/").content.decode()

    rows = [row for row in page.split("<tr") if "field-keyword_answerer" in row]
    answers = {
        name: "Provider" if ">Provider<" in row else "Us"
        for row in rows
        for name in ("Long code", "Short code", "Toll-free, filtering off")
        if f">{name}<" in row
    }
    assert answers == {
        "Long code": "Provider",
        "Short code": "Us",
        "Toll-free, filtering off": "Us",
    }


def test_its_change_page_offers_the_keyword_settings(admin_client):
    sender = create_sender(create_program("offers"))

    page = admin_client.get(f"/admin/messaging/sender/{sender.pk}/change/").content.decode()

    assert "STOP, HELP and START" in page
    for field in ("keyword_replies", "provider_stop_text", "provider_help_text"):
        assert f'name="{field}"' in page


def test_the_reassigned_checks_page_warns_about_a_permanent_lookup_error(admin_client):
    ReassignedNumberCheck.objects.create(
        phone="+14155550100",
        date_asked=timezone.localdate(),
        answer="no_data",
        source="twilio_lookup",
        raw={"no_answer": True, "error_code": 60606, "permanent": True},
    )

    page = admin_client.get("/admin/messaging/reassignednumbercheck/").content.decode()

    assert "Twilio Lookup answered error 60606" in page
