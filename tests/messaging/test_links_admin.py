"""Admin smoke tests: tracked links, clicks and conversions are read-only big tables."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from messaging.models import Click, Conversion, TrackedLink
from tests.factories import create_contact, create_user

pytestmark = pytest.mark.django_db

MODELS = {"trackedlink": TrackedLink, "click": Click, "conversion": Conversion}


@pytest.fixture
def activity():
    """The demo's sent campaign: delivered messages, human and bot clicks, conversions."""
    from django.core.management import call_command

    call_command("seed_demo", contacts=60, seed=5)
    assert Click.objects.exists() and Conversion.objects.exists()
    create_contact()


@pytest.fixture
def root(client):
    client.force_login(create_user("root", superuser=True))
    return client


@pytest.mark.parametrize("model", MODELS)
def test_it_lists_searches_and_shows_each_record_read_only_without_counting(root, activity, model):
    changelist = reverse(f"admin:messaging_{model}_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = root.get(changelist)
    assert response.status_code == 200
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert root.get(changelist, {"q": "12"}).status_code == 200
    obj = MODELS[model].objects.order_by("?").first()
    page = root.get(reverse(f"admin:messaging_{model}_change", args=[obj.pk]))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert root.get(reverse(f"admin:messaging_{model}_add")).status_code == 403


def test_marketing_and_compliance_see_clicks_and_conversions_but_change_nothing(client, activity):
    from consent.roles import COMPLIANCE, MARKETING

    for n, group in enumerate([MARKETING, COMPLIANCE]):
        client.force_login(create_user(f"viewer{n}", group))
        for model in MODELS:
            assert client.get(reverse(f"admin:messaging_{model}_changelist")).status_code == 200
        obj = Click.objects.first()
        page = client.get(reverse("admin:messaging_click_change", args=[obj.pk]))
        assert b'name="_save"' not in page.content
