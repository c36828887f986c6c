"""Creating and updating contacts from partner systems (the API's upsert).

Consent never changes here: that is `consent.services`. A number erased on request stays gone:
its erasure left a suppression keyed by the number's hash, and no upsert brings a contact back
for it until compliance lifts that suppression.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from .models import Contact, Suppression, SuppressionReason, Tag
from .phones import normalize_phone, phone_hash
from .services import ConsentError

#: The contact fields an upsert may set (consent, preferences and erasure have their own paths).
UPSERT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "locale",
    "time_zone",
    "state",
    "postal_code",
    "attributes",
)


def number_erased(e164: str) -> bool:
    """The number was erased on a privacy request (and compliance has not lifted that)."""
    return (
        Suppression.objects.suppressing(phone_hash(e164), None)
        .filter(reason=SuppressionReason.LEGAL_REQUEST)
        .exists()
    )


def contact_upsert(
    *, phone: str, fields: dict[str, Any], tags: list[str] | None = None
) -> tuple[Contact, bool]:
    """Create the contact for `phone` or update it; returns (contact, created).

    `fields` (keys from `UPSERT_FIELDS`) replace the stored values, fields not given stay as
    they are; `tags`, when given, become the contact's tags exactly (missing tags are made).
    The contact row is locked for the update, like the consent services do, so concurrent
    upserts of one person apply one after the other. Raises InvalidPhoneNumber, or ConsentError
    (nothing written) for a value the model refuses or a number erased on request.
    """
    unknown = sorted(set(fields) - set(UPSERT_FIELDS))
    if unknown:
        raise ConsentError(
            f"Not a contact field: {', '.join(unknown)}.", code="invalid", field=unknown[0]
        )
    e164 = normalize_phone(phone)
    with transaction.atomic():
        contact = Contact.objects.select_for_update().filter(phone=e164).first()
        created = contact is None
        if created:
            if number_erased(e164):
                raise ConsentError(
                    f"{e164} was erased on request; it cannot be added again.",
                    code="erased",
                    field="phone",
                )
            contact = Contact(phone=e164)
        for name, value in fields.items():
            setattr(contact, name, value)
        _validate(contact)
        if created:
            try:
                with transaction.atomic():
                    contact.save()
            except IntegrityError:
                # Someone created it meanwhile: update theirs instead.
                contact = Contact.objects.select_for_update().get(phone=e164)
                created = False
                for name, value in fields.items():
                    setattr(contact, name, value)
                contact.save(update_fields=[*fields, "updated_at"])
        elif fields:
            contact.save(update_fields=[*fields, "updated_at"])
        if tags is not None:
            contact.tags.set(_tags(tags))
        return contact, created


def _validate(contact: Contact) -> None:
    try:
        contact.full_clean(exclude=["phone"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ConsentError(" ".join(messages), code="invalid", field=field) from exc


def _tags(names: list[str]) -> list[Tag]:
    names = sorted({name.strip() for name in names if name.strip()})
    existing = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    missing = [Tag(name=name) for name in names if name not in existing]
    Tag.objects.bulk_create(missing, ignore_conflicts=True)
    return list(Tag.objects.filter(name__in=names)) if missing else list(existing.values())
