"""Messages to one of our numbers that is not set up as a sender.

Twilio only calls the webhook, signed with our token, for numbers of our account, so such a
message is to us even if nobody set the number up (a number bought and forgotten, a sender
deleted, a typo in its phone number). What it asks still counts:

- A revocation (STOP, or free text the classifier is sure of) revokes **every** program for the
  person's number and suppresses it: nothing says which program they meant.
- Twilio's keyword handling covers every number of the account, whether we set it up or not:
  an exact STOP (or HELP, or any message with ``OptOutType``) was answered by Twilio, which
  then blocks the number, before our webhook was called. We add no reply (ours would fail with
  21610, or be a second answer) and record Twilio's answer as the confirmation of each new
  ledger event (``provider:<MessageSid>``, as for a configured sender).
- Free text ("please stop texting me") is not Twilio's to answer: we reply with one
  confirmation naming the business (``SMS_BUSINESS_NAME``) in the webhook's TwiML. Nothing
  reports whether a TwiML reply was delivered, so no confirmation is recorded for it; the
  event's evidence says a TwiML reply was sent, unconfirmed. (A configured sender replies
  through the REST API instead, and its confirmation is recorded once Twilio accepts it.)
- HELP (or INFO) as free text gets a generic help answer naming the business and how to stop.
- A likely revocation goes to the review queue, as for any number.
- Anything else is stored only.

Every message to such a number raises the ``unconfigured_number`` operator alert (one per
number, counted; `messaging.alerts`), so staff set the number up or release it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from consent import services as consent_services
from consent.models import ConsentMethod, Contact
from messaging.alerts import alert_raise
from messaging.models import OperatorAlert

from . import counters
from .keyword_replies import provider_confirmations_record
from .models import InboundMessage

RECORDED_BY = "twilio inbound webhook (unconfigured number)"


def stop_text() -> str:
    """The confirmation of a revocation sent to a number with no sender."""
    return (
        f"{settings.SMS_BUSINESS_NAME}: you are unsubscribed and will receive no more "
        "messages from us."
    )


def help_text() -> str:
    """The answer to HELP sent to a number with no sender."""
    return (
        f"{settings.SMS_BUSINESS_NAME}: this number sends no messages. "
        "Reply STOP to stop every message from us."
    )


def unconfigured_alert(message: InboundMessage, intent: str) -> None:
    """Raise (or count) the alert for the number the message was sent to."""
    alert_raise(
        kind=OperatorAlert.Kind.UNCONFIGURED_NUMBER,
        subject=message.to_number,
        detail=(
            f"A message ({intent}, MessageSid {message.provider_sid}) reached {message.to_number}, "
            "which is not set up as a sender. Set it up as a sender, or release the number."
        ),
    )


def unconfigured_revoke(
    *, message: InboundMessage, contact: Contact, matched: str, provider: str = ""
) -> str:
    """Revoke every program for the number, suppress it, and return our reply ("" when the
    provider answered: then its answer is recorded as each new event's confirmation)."""
    said = " ".join(message.body.split())[:200] or "(empty)"
    evidence: dict[str, Any] = {
        "channel": "sms",
        "text": message.body,
        "message_sid": message.provider_sid,
        "from": message.from_number,
        "to": message.to_number,
        "received_at": message.received_at.isoformat(),
        "matched": matched,
        "scope": "all",
        "unconfigured_number": True,
        "answered_by": "provider" if provider else "us (TwiML reply, delivery not reported)",
    }
    results = consent_services.consent_revoke(
        contact=contact,
        programs=[],
        revoke_all=True,
        method=ConsentMethod.KEYWORD,
        source=f"{said} to {message.to_number}",
        occurred_at=message.received_at,
        evidence=evidence,
        recorded_by_label=RECORDED_BY,
    )
    events = [r.event for r in results if r.created]
    counters.opt_outs_attribute(events)
    if provider:
        provider_confirmations_record(events=events, inbound=message)
        return ""
    return stop_text()
