"""Shared set-up for the flow tests: a program with a sender, a flow, an event."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from campaigns.flows import flow_event_record
from campaigns.models import Flow
from tests.factories import (
    create_approved_version,
    create_contact,
    create_program,
    create_sender,
    create_template,
    opt_in,
)

REMINDER = (
    "Acme Service: hi {first_name|there}, see you {event.appointment_at:datetime}. "
    "Reply STOP to opt out"
)


def program_with_sender(slug: str = "service", **fields):
    program = create_program(slug, **({"message_type": "transactional"} | fields))
    create_sender(program)
    return program


def make_flow(program, *, body: str = REMINDER, approved: bool = True, **fields) -> Flow:
    template = create_template(program, name=f"T {Flow.objects.count()}", category="reminder")
    if approved:
        create_approved_version(template, body=body)
    defaults = {"name": f"Flow {Flow.objects.count()}", "trigger": "appointment.booked"}
    return Flow.objects.create(program=program, template=template, **(defaults | fields))


def subscriber(program, **fields):
    contact = create_contact(**fields)
    opt_in(contact, program, at=timezone.now() - timedelta(days=2))
    return contact


def fire(contact, *, type="appointment.booked", data=None, occurred_at=None, **kwargs):
    return flow_event_record(
        type=type,
        contact=contact,
        occurred_at=occurred_at or timezone.now(),
        data=data or {},
        **kwargs,
    )
