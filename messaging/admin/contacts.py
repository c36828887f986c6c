"""The contact page with the person's whole history: consent's `ContactAdmin`, extended with
the timeline of messages sent and received and conversations (`messaging.timeline`).

Messaging registers the extended admin in place of consent's own, so consent never imports
messaging.
"""

from __future__ import annotations

from django.contrib import admin

from consent.admin import ContactAdmin
from consent.models import Contact

from ..timeline import Timeline, contact_timeline


class ContactWithTimelineAdmin(ContactAdmin):
    def timeline(self, contact: Contact) -> Timeline:
        return contact_timeline(contact)


admin.site.unregister(Contact)
admin.site.register(Contact, ContactWithTimelineAdmin)
