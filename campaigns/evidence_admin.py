"""Admin for evidence packs: the record of every pack made, and the contact page's button."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from config.lib.admin_tools import BigTableAdmin, ReadOnlyAdminMixin

from .evidence_views import admin_evidence_pack
from .models import EvidencePack


@admin.register(EvidencePack)
class EvidencePackAdmin(ReadOnlyAdminMixin, BigTableAdmin):
    list_display = ["made_at", "phone", "made_by", "made_by_label", "files", "short_hash"]
    list_select_related = ["made_by"]
    search_fields = ["=phone"]
    search_help_text = "A phone number in E.164, e.g. +14155552671."

    @admin.display(description="Manifest SHA-256")
    def short_hash(self, pack: EvidencePack) -> str:
        return pack.manifest_sha256[:12]

    def get_urls(self):
        return [
            path(
                "make/<int:contact_id>/",
                self.admin_site.admin_view(admin_evidence_pack),
                name="campaigns_evidencepack_make",
            ),
            *super().get_urls(),
        ]
