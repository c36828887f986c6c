"""Public endpoints of the messaging app (provider webhooks)."""

from django.urls import path

from . import webhooks

urlpatterns = [
    path("webhooks/twilio/inbound/", webhooks.twilio_inbound, name="twilio_inbound"),
    path("webhooks/twilio/status/", webhooks.twilio_status, name="twilio_status"),
]
