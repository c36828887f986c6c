"""The preference centre: signed links, each change one ledger event, nothing else changes."""

import re
import time

import pytest
from django.core import signing
from django.urls import reverse

from consent import services
from consent.models import ConsentEvent, ConsentState, Contact, Suppression
from consent.preferences import (
    PreferencesLinkError,
    consent_preferences_set,
    contact_from_token,
    preferences_token,
    preferences_url,
)
from consent.services import ConsentError
from messaging.models import OutboundMessage
from messaging.services import message_queue
from tests.factories import create_contact, create_program, create_sender, opt_in

pytestmark = pytest.mark.django_db

UA = "Mozilla/5.0 (Linux; Android 14) Mobile"


@pytest.fixture
def offers():
    program = create_program("offers")
    create_sender(program)
    return program


@pytest.fixture
def news():
    program = create_program("news")
    create_sender(program)
    return program


@pytest.fixture
def subscriber(offers, news):
    contact = create_contact(first_name="Ana")
    opt_in(contact, offers)
    opt_in(contact, news)
    return contact


def page(contact) -> str:
    return reverse("consent:preferences", args=[preferences_token(contact)])


def save(client, contact, *, programs, frequency="any", channel="sms"):
    return client.post(
        page(contact),
        {"action": "save", "programs": [p.pk for p in programs], "frequency": frequency,
         "channel": channel},
        HTTP_USER_AGENT=UA,
        REMOTE_ADDR="198.51.100.4",
    )  # fmt: skip


def new_events(before: int) -> list[ConsentEvent]:
    return list(ConsentEvent.objects.filter(pk__gt=before).order_by("pk"))


def last_event_id() -> int:
    return ConsentEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def status(contact, program) -> str:
    return ConsentState.objects.get(contact=contact, program=program).status


def test_it_links_to_the_page_from_the_public_base_url(subscriber, settings):
    settings.PUBLIC_BASE_URL = "https://sms.acme.example/"
    link = preferences_url(subscriber)
    assert link.startswith("https://sms.acme.example/preferences/")
    assert contact_from_token(link.rstrip("/").rsplit("/", 1)[1]) == subscriber


def input_tag(html: str, name: str, value: object) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="{value}"[^>]*>', html)
    assert match, f"no {name}={value} input"
    return match.group()


def test_it_shows_the_persons_programs_and_choices(client, subscriber, offers, news):
    services.consent_revoke(contact=subscriber, programs=[news], method="keyword", source="STOP")
    subscriber.frequency_preference = "monthly"
    subscriber.save(update_fields=["frequency_preference"])
    other = create_program("not-joined")
    response = client.get(page(subscriber))
    html = response.content.decode()
    assert response.status_code == 200
    assert " checked" in input_tag(html, "programs", offers.pk)
    assert " checked" not in input_tag(html, "programs", news.pk)
    assert f'value="{other.pk}"' not in html
    assert " checked" in input_tag(html, "frequency", "monthly")
    assert " checked" not in input_tag(html, "frequency", "any")
    assert " checked" in input_tag(html, "channel", "sms")
    assert 'id="stop-all"' in html


def test_it_turns_a_program_off_with_one_ledger_event(client, subscriber, offers, news):
    before = last_event_id()
    response = save(client, subscriber, programs=[news])
    assert response.status_code == 302
    assert response["Location"].endswith("?saved=1")
    [event] = new_events(before)
    assert (event.program, event.kind, event.method) == (offers, "opt_out", "preference_centre")
    assert event.evidence == {"ip": "198.51.100.4", "user_agent": UA}
    assert event.source == "http://testserver/preferences/[link]/"
    assert (status(subscriber, offers), status(subscriber, news)) == ("opted_out", "opted_in")
    assert "Saved." in client.get(response["Location"]).content.decode()


def test_it_turns_an_opted_out_program_back_on_confirmed(client, subscriber, offers, news):
    services.consent_revoke(contact=subscriber, programs=[offers], method="keyword", source="STOP")
    before = last_event_id()
    save(client, subscriber, programs=[offers, news])
    [event] = new_events(before)
    assert (event.program, event.kind, event.method) == (offers, "re_opt_in", "preference_centre")
    assert status(subscriber, offers) == "opted_in"


def test_it_changes_frequency_and_channel_with_a_preference_event_per_program(
    client, subscriber, offers, news
):
    before = last_event_id()
    save(client, subscriber, programs=[offers, news], frequency="weekly", channel="email")
    events = new_events(before)
    assert {e.program for e in events} == {offers, news}
    for event in events:
        assert (event.kind, event.method, event.resulting_status) == (
            "preference",
            "preference_centre",
            "opted_in",
        )
        assert event.evidence == {
            "frequency": "weekly",
            "channel": "email",
            "ip": "198.51.100.4",
            "user_agent": UA,
        }
    subscriber.refresh_from_db()
    assert (subscriber.frequency_preference, subscriber.preferred_channel) == ("weekly", "email")
    # The states still point at the opt-ins: a preference never changes consent.
    state = ConsentState.objects.get(contact=subscriber, program=offers)
    assert state.last_event.kind == "opt_in"


def test_it_records_nothing_when_nothing_changed(client, subscriber, offers, news):
    before = last_event_id()
    response = save(client, subscriber, programs=[offers, news])
    assert response.status_code == 302
    assert new_events(before) == []


def test_a_pending_program_left_on_stays_pending(client, subscriber, offers, news):
    deals = create_program("deals", double_opt_in=True)
    opt_in(subscriber, deals, confirmed=False)
    assert "Waiting for your YES reply" in client.get(page(subscriber)).content.decode()
    before = last_event_id()
    save(client, subscriber, programs=[offers, news, deals])
    assert new_events(before) == []
    assert status(subscriber, deals) == "pending"


def test_turning_a_program_off_cancels_its_waiting_messages(client, subscriber, offers, news):
    waiting = message_queue(
        contact=subscriber, program=offers, body="Sale! STOP to end", kind="api"
    )
    other = message_queue(contact=subscriber, program=news, body="News. STOP to end", kind="api")
    save(client, subscriber, programs=[news])
    waiting.refresh_from_db()
    other.refresh_from_db()
    assert (waiting.status, waiting.reason) == ("cancelled", "cancelled_by_opt_out")
    assert other.status == "queued"


def test_stop_everything_revokes_all_and_suppresses_the_number(client, subscriber, offers, news):
    before = last_event_id()
    response = client.post(page(subscriber), {"action": "stop_all"}, REMOTE_ADDR="198.51.100.4")
    assert response["Location"].endswith("?stopped=1")
    events = new_events(before)
    assert {(e.program, e.kind, e.method) for e in events} == {
        (offers, "opt_out", "preference_centre"),
        (news, "opt_out", "preference_centre"),
    }
    assert Suppression.objects.filter(phone=subscriber.phone, program=None).exists()
    html = client.get(response["Location"]).content.decode()
    assert "You will get no more texts" in html
    assert 'name="programs"' not in html
    client.post(page(subscriber), {"action": "stop_all"})
    assert len(new_events(before)) == 2


def test_it_never_opts_anyone_into_a_program_they_did_not_join(client, subscriber, offers, news):
    stranger = create_program("stranger")
    before = last_event_id()
    response = save(client, subscriber, programs=[offers, news, stranger])
    assert response.status_code == 400
    assert new_events(before) == []
    assert not ConsentState.objects.filter(program=stranger).exists()
    with pytest.raises(ConsentError, match="Only programs the person joined"):
        consent_preferences_set(
            contact=subscriber,
            programs_on={stranger.pk},
            programs_off=set(),
            frequency="any",
            channel="sms",
            evidence={},
            source="test",
        )


def test_it_refuses_an_unknown_frequency_and_writes_nothing(subscriber, offers):
    before = last_event_id()
    with pytest.raises(ConsentError, match="not a frequency"):
        consent_preferences_set(
            contact=subscriber,
            programs_on=set(),
            programs_off={offers.pk},
            frequency="hourly",
            channel="sms",
            evidence={},
            source="test",
        )
    assert new_events(before) == []


def refused(client, token: str, before: int):
    response = client.get(reverse("consent:preferences", args=[token]))
    assert response.status_code == 403
    assert "This link is no longer valid" in response.content.decode()
    assert "HELP" in response.content.decode()
    response = client.post(reverse("consent:preferences", args=[token]), {"action": "stop_all"})
    assert response.status_code == 403
    assert new_events(before) == []
    return response


def test_it_refuses_a_forged_link_and_changes_nothing(client, subscriber):
    before = last_event_id()
    token = preferences_token(subscriber)
    other = create_contact()
    forged = token.replace(f"{subscriber.pk}.", f"{other.pk}.", 1)
    refused(client, forged, before)
    refused(client, token[:-2] + ("AA" if not token.endswith("AA") else "BB"), before)
    refused(client, signing.TimestampSigner(salt="elsewhere").sign(f"{subscriber.pk}.x"), before)
    assert not Suppression.objects.exists()
    with pytest.raises(PreferencesLinkError) as error:
        contact_from_token(forged)
    assert error.value.code == "bad_signature"


def test_it_refuses_an_expired_link(client, subscriber, settings, monkeypatch):
    settings.PREFERENCES_LINK_MAX_AGE_DAYS = 90
    issued = time.time() - 91 * 86400
    # Issue the link 91 days ago: only the signer's clock moves, nothing else.
    monkeypatch.setattr(
        signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(int(issued))
    )
    old = preferences_token(subscriber)
    monkeypatch.undo()
    settings.PREFERENCES_LINK_MAX_AGE_DAYS = 90
    refused(client, old, last_event_id())
    with pytest.raises(PreferencesLinkError) as error:
        contact_from_token(old)
    assert error.value.code == "expired"
    settings.PREFERENCES_LINK_MAX_AGE_DAYS = 92
    assert contact_from_token(old) == subscriber


def test_a_link_dies_when_the_number_changes_or_is_erased(client, subscriber):
    token = preferences_token(subscriber)
    subscriber.phone = "+14155550199"
    subscriber.save(update_fields=["phone"])
    refused(client, token, last_event_id())
    fresh = preferences_token(subscriber)
    assert contact_from_token(fresh) == subscriber
    services.contact_erase(contact=subscriber)
    refused(client, fresh, last_event_id())
    with pytest.raises(PreferencesLinkError) as error:
        contact_from_token(fresh)
    assert error.value.code == "gone"
    assert Contact.objects.get(pk=subscriber.pk).erased_at is not None


def test_it_needs_the_csrf_token(subscriber, offers, news):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    before = last_event_id()
    assert save(strict, subscriber, programs=[news]).status_code == 403
    assert new_events(before) == []
    assert not OutboundMessage.objects.filter(status="cancelled").exists()
