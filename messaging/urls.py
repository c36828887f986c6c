"""Public endpoints of the messaging app (provider webhooks)."""

from django.urls import path

from . import twilio_webhooks

urlpatterns = [
    path("webhooks/twilio/inbound/", twilio_webhooks.twilio_inbound, name="twilio_inbound"),
    path("webhooks/twilio/status/", twilio_webhooks.twilio_status, name="twilio_status"),
]
