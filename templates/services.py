"""Workflows over several template models. Single-version transitions are model methods."""

from __future__ import annotations

from django.db import transaction

from .models import MessageTemplate, TemplateVersion, validate_body


def template_create(*, template: MessageTemplate, body: str, by) -> TemplateVersion:
    """Save a new template (owned by `by`) and its first version, a draft with `body`, in one
    transaction. Raises `ValidationError` for a body whose tokens do not parse; nothing is saved.
    """
    validate_body(body)
    with transaction.atomic():
        template.owner = by
        template.save()
        version = TemplateVersion(template=template, body=body, author=by)
        version.save()
    return version
