"""Twilio webhooks: incoming messages (answered with TwiML) and status callbacks.

Thin views: refuse what is not from Twilio, then call one service. Contract with Twilio:

- `X-Twilio-Signature` is checked with the official `RequestValidator` over the URL Twilio
  called: `PUBLIC_BASE_URL` + path (+ query string), since behind a proxy the URL the request
  arrives on is not the one Twilio signed. The secret depends on the set-up:
  a request carrying `X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=<alg>` was
  signed with that shared key (`TWILIO_WEBHOOK_SHARED_KEYS[id]`, HMAC-SHA256 or -SHA1 as the
  header says); otherwise with the auth token of the request's `AccountSid`: a subaccount's
  (`TWILIO_SUBACCOUNT_AUTH_TOKENS`) or the main `TWILIO_AUTH_TOKEN`. Missing, wrong, or signed
  with a key we do not know: 403, and nothing is stored. No secret configured: every request
  is refused (fails closed).
- A body over `MAX_BODY_BYTES` gets 413 before it is read or stored.
- Everything else gets a 200 (unknown numbers and SIDs included), so Twilio stops retrying;
  a request without the fields every Twilio webhook carries, or with a MessageSid (or status)
  too long to store whole, gets 400. Never a 5xx: NUL bytes and other text the database cannot
  hold are replaced before storing (`config.lib.text`); tests/messaging/test_webhooks_properties.py
  holds both webhooks to this over arbitrary signed parameters.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import (
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from config.lib.text import storable_params

from . import callbacks, inbound

logger = logging.getLogger(__name__)

#: Twilio's message webhooks are a few kilobytes; anything far larger is not from Twilio.
MAX_BODY_BYTES = 64 * 1024
TWIML_CONTENT_TYPE = "text/xml; charset=utf-8"
_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@lru_cache(maxsize=4)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


def twiml(reply: str = "") -> HttpResponse:
    """`<Response><Message>reply</Message></Response>`, XML-escaped; `<Response/>` for none."""
    if not reply:
        return HttpResponse(_EMPTY_TWIML, content_type=TWIML_CONTENT_TYPE)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Message>{escape(_NOT_XML.sub('', reply))}</Message></Response>"
    )
    return HttpResponse(body, content_type=TWIML_CONTENT_TYPE)


def public_url(request: HttpRequest) -> str:
    """The URL Twilio called: our public base URL with this request's path and query string."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path()


def signing_secret(request: HttpRequest) -> tuple[str, str | None]:
    """The secret this request must be signed with, and the algorithm; ("", None) if unknown."""
    signature_settings = request.headers.get(SIGNATURE_SETTINGS_HEADER, "")
    if signature_settings:
        key_id = ""
        for part in signature_settings.split(","):
            name, _, value = part.partition("=")
            if name.strip() == "key":
                key_id = value.strip()
        keys = settings.TWILIO_WEBHOOK_SHARED_KEYS or {}
        return keys.get(key_id, "") if key_id else "", get_signature_algorithm(signature_settings)
    account = request.POST.get("AccountSid", "")
    subaccounts = settings.TWILIO_SUBACCOUNT_AUTH_TOKENS or {}
    return subaccounts.get(account) or settings.TWILIO_AUTH_TOKEN, None


def refusal(request: HttpRequest) -> HttpResponse | None:
    """413 for an oversized body, 403 for a bad signature; None when the request may proceed."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES or len(request.body) > MAX_BODY_BYTES:
        logger.warning("Twilio webhook %s: body of %s bytes refused", request.path, length)
        return HttpResponse("Request body too large.", status=413, content_type="text/plain")
    token, algorithm = signing_secret(request)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token:
        logger.error("No signing secret for webhook %s: refused", request.path)
    if (
        not token
        or not signature
        or not _validator(token).validate(public_url(request), request.POST, signature, algorithm)
    ):
        logger.warning("Twilio webhook %s: missing or invalid signature", request.path)
        return HttpResponse("Invalid signature.", status=403, content_type="text/plain")
    return None


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    """An incoming SMS: stored once, handled; a sender's reply is queued, not TwiML."""
    if (refused := refusal(request)) is not None:
        return refused
    params = request.POST.dict()
    try:
        reply = inbound.inbound_receive(params=params)
    except inbound.MissingParameter as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    # A sender's replies go out through the REST API (messaging.keyword_replies), never as
    # TwiML; a number with no sender has nothing to send from and answers in TwiML.
    stored = storable_params(params)  # as the handler looked the sender up
    if inbound.sender_for(stored.get("To", ""), stored.get("MessagingServiceSid", "")):
        reply = ""
    return twiml(reply)


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    """A delivery status callback: stored once, applied in order."""
    if (refused := refusal(request)) is not None:
        return refused
    try:
        callbacks.status_callback_receive(params=request.POST.dict())
    except callbacks.MissingParameter as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    return twiml()
