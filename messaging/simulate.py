"""Trying the product without a phone: a staff member texts as a contact would.

`inbound_simulate` builds the parameters Twilio would post for a text from the contact's number
to one of our senders and hands them to `inbound.inbound_receive`, the function the Twilio
webhook calls once the signature is checked. Classification, the consent ledger, suppressions,
review queue, conversations and the one reply are therefore exactly what a real text causes;
only the signature check is skipped, which is why simulation exists only where no real message
can leave: the console or locmem backend, or DEBUG (`simulation_enabled`).

The simulated message is marked as such: its MessageSid starts with ``SMsimulated`` and its raw
parameters carry ``"Simulated": "by <username>"``, so the record never passes for a real text.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings

from consent.models import Contact

from . import inbound
from .models import Conversation, InboundMessage, OutboundMessage, Sender

#: Backends that never reach a handset; simulation is offered only with these (or DEBUG).
OFFLINE_BACKENDS = frozenset({"console", "locmem"})
#: Twilio accepts up to 1,600 characters; a longer "text" is not one a phone could send.
MAX_BODY = 1600
SID_PREFIX = "SMsimulated"


class SimulationError(ValueError):
    """The simulation cannot run; the message says why (nothing was stored)."""


@dataclass(frozen=True)
class SimulatedText:
    message: InboundMessage
    reply: str


def simulation_enabled() -> bool:
    """Simulated texts only where nothing real is sent: console/locmem backend, or DEBUG."""
    return settings.SMS_BACKEND in OFFLINE_BACKENDS or settings.DEBUG


def simulation_sender(contact: Contact) -> Sender | None:
    """The number the contact would text: the one of their latest conversation, else the one
    that last wrote to them, else the first active sender with a phone number."""
    with_number = Sender.objects.filter(phone_number__isnull=False)
    conversation = (
        Conversation.objects.filter(contact=contact, sender__phone_number__isnull=False)
        .select_related("sender")
        .order_by("-last_message_at")
        .first()
    )
    if conversation is not None:
        return conversation.sender
    last = (
        OutboundMessage.objects.filter(contact=contact, sender__phone_number__isnull=False)
        .order_by("-id")
        .values_list("sender", flat=True)
        .first()
    )
    if last is not None:
        return with_number.filter(pk=last).first()
    return with_number.filter(active=True).order_by("pk").first()


def inbound_simulate(
    *, contact: Contact, body: str, by, sender: Sender | None = None
) -> SimulatedText:
    """Receive `body` as if `contact` had texted it to `sender` (default: `simulation_sender`).

    Raises `SimulationError` when simulation is off, the contact has no number, no sender has
    a phone number, or the text is empty or too long; nothing is stored then.
    """
    if not simulation_enabled():
        raise SimulationError(
            "Simulated texts are only available with the console or locmem backend (or DEBUG)."
        )
    text = body.strip()
    if not text:
        raise SimulationError("Type the text the person sends.")
    if len(text) > MAX_BODY:
        raise SimulationError(f"A text has at most {MAX_BODY} characters.")
    if not contact.phone:
        raise SimulationError(f"{contact} has no phone number (erased?).")
    sender = sender or simulation_sender(contact)
    if sender is None or not sender.phone_number:
        raise SimulationError("No sender with a phone number to text: add one under Senders.")
    params = simulated_params(contact=contact, sender=sender, body=text, by=by)
    reply = inbound.inbound_receive(params=params)
    return SimulatedText(InboundMessage.objects.get(provider_sid=params["MessageSid"]), reply)


def simulated_params(*, contact: Contact, sender: Sender, body: str, by) -> dict[str, str]:
    """The form fields Twilio would post for `body` texted by `contact` to `sender`, marked as
    simulated (demo data uses these too)."""
    sid = f"{SID_PREFIX}{uuid.uuid4().hex}"[:34]
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": settings.TWILIO_ACCOUNT_SID or "ACsimulated",
        "From": contact.phone,
        "To": sender.phone_number,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "Simulated": f"by {getattr(by, 'username', by)}",
    }
    if sender.messaging_service_sid:
        params["MessagingServiceSid"] = sender.messaging_service_sid
    return params
