from __future__ import annotations

from django import template

from ..admin.simulate import SimulateForm, may_simulate

register = template.Library()


@register.inclusion_tag("admin/messaging/simulate_reply.html", takes_context=True)
def simulate_reply_box(context, contact, sender=None) -> dict:
    """The "simulate a reply" box for `contact` (texting `sender`, default: the usual one)."""
    request = context["request"]
    if contact is None or not contact.phone or not may_simulate(request.user):
        return {"show": False}
    form = SimulateForm(
        auto_id="id_simulate_%s",  # the conversation page's reply form has its own id_body
        initial={
            "contact": contact.pk,
            "sender": sender.pk if sender else None,
            "next": request.get_full_path(),
        },
    )
    return {"show": True, "form": form, "contact": contact, "sender": sender}
