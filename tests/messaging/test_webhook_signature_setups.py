"""Every way Twilio signs webhooks is accepted (the account's token, a subaccount's token, a
shared key with HMAC-SHA256), and anything unsigned or wrongly signed is still refused."""

import pytest
from twilio.request_validator import SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER

from config.lib.process_cache import clear_all as clear_process_caches
from messaging.models import InboundMessage, StatusCallback
from tests.factories import create_contact, create_program, create_sender, opt_in

from .twilio_helpers import INBOUND_PATH, PUBLIC_BASE_URL, STATUS_PATH

pytestmark = pytest.mark.django_db

NUMBER = "+14155550123"
SUBACCOUNT = "AC" + "b" * 32
SUBACCOUNT_TOKEN = "5ub" * 10 + "ab"
KEY_ID, SHARED_SECRET = "webhooks_sharedkey_1", "s3cret-shared-key-0123456789abcdef"


@pytest.fixture
def twilio(twilio_standin, settings):
    for name, value in twilio_standin.django_settings().items():
        setattr(settings, name, value)
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    settings.TWILIO_SUBACCOUNT_AUTH_TOKENS = {SUBACCOUNT: SUBACCOUNT_TOKEN}
    settings.TWILIO_WEBHOOK_SHARED_KEYS = {KEY_ID: SHARED_SECRET}
    clear_process_caches()
    program = create_program("offers")
    create_sender(program, phone_number=NUMBER)
    opt_in(contact := create_contact(), program)
    twilio_standin.person = contact.phone
    yield twilio_standin
    clear_process_caches()


def post(client, webhook, **headers):
    return client.post(INBOUND_PATH, webhook.params, **(webhook.client_kwargs() | headers))


def incoming(twilio):
    return twilio.incoming(twilio.person, NUMBER, "Hi there", url=PUBLIC_BASE_URL + INBOUND_PATH)


def test_it_accepts_the_main_accounts_signature(client, twilio):
    assert post(client, incoming(twilio)).status_code == 200
    assert InboundMessage.objects.count() == 1


def test_it_accepts_a_number_in_a_subaccount_signed_with_the_subaccounts_token(client, twilio):
    twilio.add_subaccount(SUBACCOUNT, SUBACCOUNT_TOKEN)
    twilio.configure_sender(NUMBER, account_sid=SUBACCOUNT)
    webhook = incoming(twilio)
    assert webhook.params["AccountSid"] == SUBACCOUNT

    assert post(client, webhook).status_code == 200
    assert InboundMessage.objects.count() == 1


def test_it_refuses_a_subaccount_request_signed_with_another_token(client, twilio):
    twilio.configure_sender(NUMBER, account_sid=SUBACCOUNT)  # signed with the main token
    webhook = incoming(twilio)

    assert post(client, webhook).status_code == 403
    assert not InboundMessage.objects.exists()


def test_it_refuses_a_request_whose_account_sid_was_changed_after_signing(client, twilio):
    twilio.add_subaccount(SUBACCOUNT, SUBACCOUNT_TOKEN)
    twilio.configure_sender(NUMBER, account_sid=SUBACCOUNT)
    webhook = incoming(twilio)
    webhook.params["AccountSid"] = twilio.account_sid

    assert post(client, webhook).status_code == 403
    assert not InboundMessage.objects.exists()


def test_it_accepts_a_shared_key_hmac_sha256_signature(client, twilio):
    twilio.use_shared_key(KEY_ID, SHARED_SECRET)
    webhook = incoming(twilio)
    assert "algorithm=HMAC_SHA256" in webhook.headers[SIGNATURE_SETTINGS_HEADER]

    assert post(client, webhook).status_code == 200
    assert InboundMessage.objects.count() == 1


def test_it_accepts_a_status_callback_signed_with_the_shared_key(client, twilio, settings):
    twilio.use_shared_key(KEY_ID, SHARED_SECRET)
    params = {"MessageSid": "SM" + "c" * 32, "MessageStatus": "delivered", "To": twilio.person}
    url = PUBLIC_BASE_URL + STATUS_PATH
    headers = twilio.sign(url, params)
    kwargs = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}

    assert client.post(STATUS_PATH, params, **kwargs).status_code == 200
    assert StatusCallback.objects.count() == 1


@pytest.mark.parametrize(
    ("key_id", "secret"),
    [(KEY_ID, "not-the-shared-secret"), ("webhooks_sharedkey_unknown", SHARED_SECRET)],
)
def test_it_refuses_a_shared_key_signature_with_a_wrong_or_unknown_key(
    client, twilio, key_id, secret
):
    twilio.use_shared_key(key_id, secret)

    assert post(client, incoming(twilio)).status_code == 403
    assert not InboundMessage.objects.exists()


def test_it_refuses_a_shared_key_signature_without_its_settings_header(client, twilio):
    """Without the header the request is checked against the auth token, and fails."""
    twilio.use_shared_key(KEY_ID, SHARED_SECRET)
    webhook = incoming(twilio)
    kwargs = {k: v for k, v in webhook.client_kwargs().items() if "SETTINGS" not in k}

    assert client.post(INBOUND_PATH, webhook.params, **kwargs).status_code == 403


def test_it_still_refuses_an_unsigned_request(client, twilio):
    webhook = incoming(twilio)
    kwargs = {k: v for k, v in webhook.client_kwargs().items() if k != "HTTP_X_TWILIO_SIGNATURE"}
    assert SIGNATURE_HEADER == "X-Twilio-Signature"

    assert client.post(INBOUND_PATH, webhook.params, **kwargs).status_code == 403
    assert not InboundMessage.objects.exists()


def test_it_refuses_a_forged_body_under_a_genuine_shared_key_signature(client, twilio):
    twilio.use_shared_key(KEY_ID, SHARED_SECRET)
    webhook = incoming(twilio)
    webhook.params["Body"] = "STOP"

    assert post(client, webhook).status_code == 403
    assert not InboundMessage.objects.exists()
