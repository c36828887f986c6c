"""Twilio-shaped webhook payloads, signed with the real `RequestValidator`, and TwiML parsing."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

from twilio.request_validator import RequestValidator

AUTH_TOKEN = "8c1f2b7d9e0a4c6b8d2e4f6a8c0e2b4d"
ACCOUNT_SID = "AC" + "5" * 32
PUBLIC_BASE_URL = "https://sms.acme.example"
INBOUND_PATH = "/webhooks/twilio/inbound/"
STATUS_PATH = "/webhooks/twilio/status/"
OUR_NUMBER = "+18335550100"

_sids = itertools.count(1)


def new_sid(prefix: str = "SM") -> str:
    """A MessageSid-shaped id: "SM" and 32 hex digits."""
    return f"{prefix}{next(_sids):032x}"


def inbound_params(
    body: str, *, from_: str, to: str = OUR_NUMBER, sid: str | None = None, **extra: str
) -> dict[str, str]:
    """The form fields of Twilio's incoming-message webhook, as Twilio sends them."""
    sid = sid or new_sid()
    params = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "94105",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": to,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": from_,
        "ApiVersion": "2010-04-01",
    }
    return params | extra


def status_params(
    sid: str, status: str, *, to: str, from_: str = OUR_NUMBER, error_code: int | None = None
) -> dict[str, str]:
    """The form fields of Twilio's message status callback."""
    params = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": to,
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": from_,
        "ApiVersion": "2010-04-01",
    }
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def post_signed(
    client,
    path: str,
    params: dict[str, str],
    *,
    url: str | None = None,
    token: str = AUTH_TOKEN,
    **extra,
):
    """POST as Twilio does: form-encoded, signed over the public URL (or `url`)."""
    signature = sign(url or PUBLIC_BASE_URL + path, params, token)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature, **extra)


def post_inbound(client, params: dict[str, str], **extra):
    """POST a signed incoming message, then run what it queued on commit (the dispatch of our
    reply, through the test backend), as the task queue would."""
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = post_signed(client, INBOUND_PATH, params, **extra)
    return response


def replies_sent(params: dict[str, str]) -> list[str]:
    """The bodies of our replies to this incoming message that the provider accepted."""
    from messaging.models import OutboundMessage

    return list(
        OutboundMessage.objects.filter(
            in_reply_to__provider_sid=params["MessageSid"],
            kind="auto_reply",
            provider_sid__isnull=False,
        ).values_list("body", flat=True)
    )


def replies_queued(params: dict[str, str]) -> list[str]:
    """The bodies of our replies to this incoming message, sent or waiting to be sent."""
    from messaging.models import OutboundMessage

    return list(
        OutboundMessage.objects.filter(
            in_reply_to__provider_sid=params["MessageSid"], kind="auto_reply"
        ).values_list("body", flat=True)
    )


def twiml_messages(response) -> list[str]:
    """The texts of the <Message> verbs of a TwiML response."""
    assert response["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)  # noqa: S314 (our own response)
    assert root.tag == "Response"
    return [element.text or "" for element in root.findall("Message")]
