"""The "simulate a reply" box on the contact and conversation pages (see `messaging.simulate`).

`simulate_view` is served under the inbound messages admin; the box itself is the inclusion tag
`{% simulate_reply_box contact sender %}` (`messaging.templatetags.simulate`), which shows
nothing unless simulation is enabled and the staff member may act on conversations.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from consent.models import Contact

from ..models import Sender
from ..simulate import MAX_BODY, SimulationError, inbound_simulate, simulation_enabled

#: Who may text as a contact: the people who answer them.
PERMISSION = "messaging.change_conversation"


class SimulateForm(forms.Form):
    contact = forms.IntegerField(widget=forms.HiddenInput)
    sender = forms.IntegerField(widget=forms.HiddenInput, required=False)
    body = forms.CharField(
        label="Text from the person",
        max_length=MAX_BODY,
        required=False,
        widget=forms.TextInput(
            attrs={"size": 40, "placeholder": "STOP, HELP, START, YES or a question"}
        ),
    )
    next = forms.CharField(widget=forms.HiddenInput, required=False)


def may_simulate(user) -> bool:
    return simulation_enabled() and user.is_active and user.is_staff and user.has_perm(PERMISSION)


@require_POST
def simulate_view(request: HttpRequest):
    if not may_simulate(request.user):
        raise PermissionDenied
    form = SimulateForm(request.POST)
    if not form.is_valid():
        raise PermissionDenied  # hidden fields tampered with
    contact = get_object_or_404(Contact, pk=form.cleaned_data["contact"])
    sender = None
    if form.cleaned_data["sender"]:
        sender = get_object_or_404(Sender, pk=form.cleaned_data["sender"])
    back = form.cleaned_data["next"]
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("admin:consent_contact_change", args=[contact.pk])
    try:
        result = inbound_simulate(
            contact=contact, body=form.cleaned_data["body"], by=request.user, sender=sender
        )
    except SimulationError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(back)
    inbound = result.message
    outcome = f"Simulated text “{inbound.body}” from {inbound.from_number} to {inbound.to_number}: "
    outcome += f"read as {inbound.get_intent_display().lower() or 'a message'}"
    if inbound.matched:
        outcome += f" ({inbound.matched})"
    outcome += f". Reply: “{result.reply}”." if result.reply else ". No automatic reply."
    if inbound.conversation_id:
        outcome += " It is in the conversation."
    messages.success(request, outcome)
    return HttpResponseRedirect(back)
