"""Import, refresh and submit registrations through the real `twilio` client against the
local Messaging v1 stand-in, including its failures."""

from __future__ import annotations

import pytest
from django.test import override_settings

from campaigns.registrations.models import (
    Brand,
    BrandEvent,
    Registration,
    RegistrationSnapshot,
)
from campaigns.registrations.sync import (
    SyncError,
    registration_import,
    registration_refresh,
    registration_submit,
)
from tests.campaigns.registration_helpers import create_brand, create_registration
from tests.factories import create_program, create_sender, create_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def twilio(a2p_standin, settings):
    for name, value in a2p_standin.django_settings().items():
        setattr(settings, name, value)
    return a2p_standin


@pytest.fixture
def remote(twilio):
    brand = twilio.add_brand(brand_score=82, tcr_id="BABC123")
    service = twilio.add_service()
    campaign = twilio.add_campaign(service["sid"], brand["sid"])
    verification = twilio.add_verification()
    return {"brand": brand, "service": service, "campaign": campaign, "tf": verification}


def counts() -> tuple[int, ...]:
    return (
        Brand.objects.count(),
        BrandEvent.objects.count(),
        Registration.objects.count(),
        RegistrationSnapshot.objects.count(),
    )


def test_it_imports_brands_campaigns_and_toll_free_verifications(remote):
    report = registration_import()

    assert (report.brands_new, report.registrations_new) == (1, 2)
    brand = Brand.objects.get(provider_sid=remote["brand"]["sid"])
    assert (brand.status, brand.trust_score, brand.registry_brand_id) == ("approved", 82, "BABC123")
    campaign = Registration.objects.get(provider_sid=remote["campaign"]["sid"])
    assert campaign.kind == "10dlc" and campaign.status == "approved"
    assert campaign.messaging_service_sid == remote["service"]["sid"]
    assert (campaign.att_messages_per_minute, campaign.tmobile_daily_segments) == (600, 2000)
    in_force = campaign.approved_snapshot
    assert in_force.message_samples == remote["campaign"]["message_samples"]
    assert in_force.has_embedded_links is True and in_force.use_case == "MARKETING"
    toll_free = Registration.objects.get(provider_sid=remote["tf"]["sid"])
    assert toll_free.kind == "toll_free" and toll_free.status == "approved"
    assert toll_free.approved_snapshot.opt_in_type == "WEB_FORM"
    assert toll_free.approved_snapshot.monthly_volume == 10000


def test_importing_again_refreshes_instead_of_duplicating(remote, twilio):
    registration_import()
    twilio.campaigns[remote["service"]["sid"]][remote["campaign"]["sid"]]["campaign_status"] = (
        "SUSPENDED"
    )
    report = registration_import()

    assert (report.brands_new, report.registrations_new) == (0, 0)
    assert report.registrations_updated == 2
    campaign = Registration.objects.get(provider_sid=remote["campaign"]["sid"])
    assert campaign.status == "suspended"
    assert campaign.events.filter(to_status="suspended").exists()


@pytest.mark.parametrize(
    ("status", "words"),
    [(429, "rate limiting"), (500, "HTTP 500"), (503, "HTTP 503"), (404, "does not know")],
)
def test_a_provider_error_half_way_writes_nothing(remote, twilio, status, words):
    twilio.fail_next(status, after=3)  # brands, services and campaigns answer; then it fails
    with pytest.raises(SyncError, match=words) as caught:
        registration_import()
    assert "Nothing was changed" in str(caught.value)
    assert counts() == (0, 0, 0, 0)


def test_bad_credentials_are_a_clear_message(remote, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong" * 6
    with pytest.raises(SyncError, match="refused the credentials"):
        registration_import()
    assert counts() == (0, 0, 0, 0)


def test_a_timeout_is_a_clear_message(remote, twilio):
    twilio.hang_next(2.5)  # the client waits 1 s
    with override_settings(TWILIO_TIMEOUT=1.0), pytest.raises(SyncError, match="in time"):
        registration_import()
    assert counts() == (0, 0, 0, 0)


def test_it_submits_a_frozen_snapshot_and_learns_the_verdict_on_refresh(twilio):
    program = create_program("offers")
    remote_brand = twilio.add_brand()
    service = twilio.add_service()
    brand = create_brand(provider_sid=remote_brand["sid"])
    registration = create_registration(program, approved=False, brand=brand)
    Registration.objects.filter(pk=registration.pk).update(messaging_service_sid=service["sid"])
    registration.refresh_from_db()

    snapshot = registration_submit(registration=registration, by=create_user("carl"))

    registration.refresh_from_db()
    created = twilio.campaigns[service["sid"]][registration.provider_sid]
    assert created["message_samples"] == snapshot.message_samples
    assert created["has_embedded_links"] is True
    assert registration.status == "submitted"

    created["campaign_status"] = "VERIFIED"
    created["rate_limits"] = {"att": {"mps": 75}, "tmobile": {"brand_tier": "TOP"}}
    registration_refresh(registration=registration)

    registration.refresh_from_db()
    assert registration.status == "approved"
    assert registration.approved_snapshot_id == snapshot.pk
    assert (registration.att_messages_per_minute, registration.tmobile_daily_segments) == (
        4500,
        200000,
    )


def test_a_refresh_of_an_unknown_campaign_writes_nothing(twilio):
    service = twilio.add_service()
    registration = create_registration(create_program("offers"), approved=False)
    Registration.objects.filter(pk=registration.pk).update(
        messaging_service_sid=service["sid"], provider_sid="QE" + "0" * 32
    )
    registration.refresh_from_db()
    before = counts()
    with pytest.raises(SyncError, match="does not know"):
        registration_refresh(registration=registration)
    registration.refresh_from_db()
    assert registration.status == "submitted" and counts() == before


def test_drafts_are_never_sent(twilio):
    registration = create_registration(create_program("offers"), approved=False)
    registration.snapshots.update(status="draft", submitted_at=None)
    with pytest.raises(SyncError, match="drafts are never sent"):
        registration_submit(registration=registration, by=create_user("carl"))
    assert twilio.requests == []


def test_the_admin_buttons_submit_and_refresh_and_report_provider_errors(client, twilio):
    from django.urls import reverse

    from tests.factories import compliance_approver

    remote_brand = twilio.add_brand()
    service = twilio.add_service()
    registration = create_registration(
        create_program("offers"),
        approved=False,
        brand=create_brand(provider_sid=remote_brand["sid"]),
    )
    Registration.objects.filter(pk=registration.pk).update(messaging_service_sid=service["sid"])
    client.force_login(compliance_approver())
    url = "admin:campaigns_registration_sync"

    page = client.post(reverse(url, args=[registration.pk, "submit"]), follow=True)
    assert "Submitted to Twilio." in page.content.decode()
    registration.refresh_from_db()
    assert registration.provider_sid in twilio.campaigns[service["sid"]]

    twilio.fail_next(503)
    page = client.post(reverse(url, args=[registration.pk, "refresh"]), follow=True)
    assert "Twilio had an error (HTTP 503)" in page.content.decode()

    twilio.campaigns[service["sid"]][registration.provider_sid]["campaign_status"] = "VERIFIED"
    client.post(reverse(url, args=[registration.pk, "refresh"]))
    registration.refresh_from_db()
    assert registration.status == "approved"


def test_the_brand_list_action_imports_from_twilio(client, remote):
    from django.urls import reverse

    from tests.factories import compliance_approver

    create_brand()  # an action needs a selected row
    client.force_login(compliance_approver())
    page = client.post(
        reverse("admin:campaigns_brand_changelist"),
        {"action": "import_action", "_selected_action": [Brand.objects.get().pk]},
        follow=True,
    )
    assert "Brands: 1 new, 0 refreshed. Registrations: 2 new" in page.content.decode()


def toll_free_registration(twilio, **changes):
    program = create_program("offers")
    sender = create_sender(program, kind="toll_free")
    twilio.add_number(sender.phone_number)
    return create_registration(
        program,
        [sender],
        approved=False,
        kind="toll_free",
        use_case="MARKETING",
        opt_in_type="WEB_FORM",
        opt_in_image_urls=["https://acme.example/join-form.png"],
        monthly_volume=10_000,
        **changes,
    )


def test_it_submits_a_toll_free_verification_and_learns_the_verdict_on_refresh(twilio):
    registration = toll_free_registration(twilio)

    snapshot = registration_submit(registration=registration, by=create_user("carl"))

    registration.refresh_from_db()
    created = twilio.verifications[registration.provider_sid]
    assert registration.provider_sid.startswith("HH") and created["status"] == "PENDING_REVIEW"
    assert created["tollfree_phone_number"] == registration.senders.get().phone_number
    assert created["production_message_sample"] == snapshot.message_samples[0]
    assert created["use_case_categories"] == ["MARKETING"]
    assert created["business_website"] == "https://acme.example"
    assert registration.status == "submitted"

    created["status"] = "TWILIO_APPROVED"
    registration_refresh(registration=registration)
    registration.refresh_from_db()
    assert registration.status == "approved" and registration.approved_snapshot_id == snapshot.pk


def test_a_toll_free_verification_missing_what_twilio_requires_sends_nothing(twilio):
    registration = toll_free_registration(twilio, brand=create_brand(website=""))
    with pytest.raises(SyncError, match="the brand's website"):
        registration_submit(registration=registration, by=create_user("carl"))
    registration.refresh_from_db()
    assert twilio.requests == [] and not registration.provider_sid


def test_a_provider_error_on_a_toll_free_submit_writes_nothing(twilio):
    registration = toll_free_registration(twilio)
    twilio.fail_next(503, after=1)  # the number is found, the create fails
    with pytest.raises(SyncError):
        registration_submit(registration=registration, by=create_user("carl"))
    registration.refresh_from_db()
    assert not registration.provider_sid and twilio.verifications == {}


def test_a_short_code_says_where_it_is_applied_for(twilio):
    registration = create_registration(create_program("offers"), approved=False, kind="short_code")
    with pytest.raises(SyncError, match="Twilio's console"):
        registration_submit(registration=registration, by=create_user("carl"))
    assert twilio.requests == []
