"""Consent admin: support looks people up and records opt-outs; compliance reviews and exports.

The ledger is read-only for everyone. Every change goes through `consent.services`.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Prefetch
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from config.lib.admin_tools import BigTableAdmin, ReadOnlyAdminMixin, admin_date, form_action

# The contact page shows the person's whole history: messages and conversations too.
from . import services
from .admin_import import import_upload_view
from .exports import content_type, filename, stream_export
from .models import (
    ConsentEvent,
    ConsentMethod,
    ConsentState,
    ConsentStatus,
    Contact,
    Disclosure,
    Program,
    Suppression,
    Tag,
)
from .phone_search import filter_phone_suffix, phone_suffix
from .phones import normalize_phone, phone_hash, try_normalize_phone
from .selectors import consent_overview, contact_suppressions

STATUS_BADGES = {
    ConsentStatus.OPTED_IN: ("#1b7f3b", "✔"),
    ConsentStatus.PENDING: ("#9a6700", "…"),
    ConsentStatus.OPTED_OUT: ("#b42318", "✖"),
}


def status_badge(state: ConsentState) -> str:
    color, mark = STATUS_BADGES[state.status]
    return format_html(
        '<span style="color:{};white-space:nowrap" title="{} since {}">{} {}</span>',
        color,
        state.get_status_display(),
        admin_date(state.since),
        mark,
        state.program.slug,
    )


class PhoneSearchMixin:
    """Search by phone in any format: a query that reads as a whole number is matched exactly;
    one that reads as part of a number ("790-4411") by the end of the number, where
    `phone_suffix_lookup` names a path to `Contact.phone` (its reversed-number index serves it;
    other phone columns have none, so they are not searched that way)."""

    phone_lookup = "phone"
    phone_suffix_lookup: str | None = None

    def get_search_results(self, request, queryset, search_term):
        e164 = try_normalize_phone(search_term)
        if e164:
            return queryset.filter(**{self.phone_lookup: e164}), False
        digits = phone_suffix(search_term) if self.phone_suffix_lookup else None
        if digits:
            return filter_phone_suffix(queryset, self.phone_suffix_lookup, digits), False
        return super().get_search_results(request, queryset, search_term)


# --- Contacts ---------------------------------------------------------------------------------


class ConsentStatusFilter(admin.SimpleListFilter):
    title = "consent"
    parameter_name = "consent"

    def lookups(self, request, model_admin):
        return [
            (f"{program.pk}:{status.value}", f"{program.slug}: {status.label}")
            for program in Program.objects.all()
            for status in ConsentStatus
        ]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            program_id, status = self.value().split(":")
            program_id = int(program_id)
        except ValueError:
            return queryset.none()
        states = ConsentState.objects.filter(
            contact=OuterRef("pk"), program_id=program_id, status=status
        )
        return queryset.filter(Exists(states))


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = [
            "phone",
            "first_name",
            "last_name",
            "email",
            "locale",
            "time_zone",
            "state",
            "postal_code",
            "country",
            "attributes",
            "tags",
        ]

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data.get("phone"))


class RecordOptOutForm(forms.Form):
    programs = forms.ModelMultipleChoiceField(
        Program.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    all_programs = forms.BooleanField(required=False, label="All programs, and suppress the number")
    method = forms.ChoiceField(
        label="How the request came",
        choices=[
            (ConsentMethod.VERBAL, "Verbal (phone call, in person)"),
            (ConsentMethod.EMAIL, "E-mail"),
            (ConsentMethod.PAPER, "Letter"),
        ],
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Ticket, caller.")

    def clean(self):
        data = super().clean()
        if not data.get("programs") and not data.get("all_programs"):
            raise ValidationError("Choose the programs to opt out of, or all programs.")
        return data


def record_opt_out(form: RecordOptOutForm, contacts, user) -> tuple[int, int]:
    done = skipped = 0
    for contact in contacts:
        if not contact.phone:
            skipped += 1
            continue
        services.consent_revoke(
            contact=contact,
            programs=list(form.cleaned_data["programs"]),
            revoke_all=form.cleaned_data["all_programs"],
            method=form.cleaned_data["method"],
            source=f"admin: support agent {user.get_username()}",
            note=form.cleaned_data["note"],
            evidence={"channel": form.cleaned_data["method"], "entered_via": "admin"},
            recorded_by=user,
        )
        done += 1
    return done, skipped


@admin.register(Contact)
class ContactAdmin(PhoneSearchMixin, BigTableAdmin):
    form = ContactForm
    phone_suffix_lookup = "phone"
    list_display = ["phone", "full_name", "email", "consent_summary", "state", "created_at"]
    list_display_links = ["phone", "full_name"]
    list_filter = [ConsentStatusFilter, "state", "tags"]
    search_fields = ["^first_name", "^last_name", "=email"]
    search_help_text = (
        "A phone number in any format or its last digits (790-4411), a name or an e-mail address."
    )
    filter_horizontal = ["tags"]
    actions = ["record_opt_out_action", "erase_action"]
    readonly_fields = ["created_at", "updated_at", "erased_at"]
    fieldsets = [
        (None, {"fields": ["phone", ("first_name", "last_name"), "email"]}),
        ("Where and how", {"fields": [("state", "postal_code", "country"), "time_zone", "locale"]}),
        ("Personalization and audiences", {"fields": ["attributes", "tags"]}),
        ("Record", {"fields": ["created_at", "updated_at", "erased_at"]}),
    ]
    change_form_template = "admin/consent/contact/change_form.html"

    def get_queryset(self, request):
        states = ConsentState.objects.select_related("program").order_by("program__slug")
        return super().get_queryset(request).prefetch_related(Prefetch("consent_states", states))

    def get_readonly_fields(self, request, obj=None):
        # Consent belongs to a number: a different number is a different contact.
        return [*self.readonly_fields, "phone"] if obj else self.readonly_fields

    @admin.display(description="Consent")
    def consent_summary(self, contact: Contact) -> str:
        states = contact.consent_states.all()
        if not states:
            return "—"
        return format_html_join(" ", "{}", ((status_badge(s),) for s in states))

    def get_urls(self):
        return [
            path(
                "<int:contact_id>/record-opt-out/",
                self.admin_site.admin_view(self.record_opt_out_view),
                name="consent_contact_record_opt_out",
            ),
            *super().get_urls(),
        ]

    def timeline(self, contact: Contact):
        """The person's history on the page (None: no such panel); the messaging admin extends
        this class to show the ledger, messages and conversations (`messaging.admin.contacts`)."""
        return None

    def change_view(self, request, object_id, form_url="", extra_context=None):
        contact = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if contact is not None:
            suppressions = contact_suppressions(contact)
            active = [s for s in suppressions if s.is_active]
            overview = consent_overview(contact)
            for row in overview:
                # A suppression outranks the program's consent status: say so on its row.
                row["suppression"] = next(
                    (s for s in active if s.program_id in (None, row["program"].pk)), None
                )
            extra_context |= {
                "consent_overview": overview,
                "suppressions": suppressions,
                "active_suppressions": active,
                "timeline": self.timeline(contact),
                "can_record_opt_out": request.user.has_perm("consent.record_opt_out"),
                # Compliance: the consent evidence pack of the number (campaigns.evidence).
                "can_make_evidence_pack": request.user.has_perm("consent.export_consent"),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def record_opt_out_view(self, request, contact_id: int):
        if not request.user.has_perm("consent.record_opt_out"):
            raise PermissionDenied
        contact = get_object_or_404(Contact, pk=contact_id)
        form = RecordOptOutForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            record_opt_out(form, [contact], request.user)
            self.message_user(request, f"Opt-out recorded for {contact}.", messages.SUCCESS)
            return redirect("admin:consent_contact_change", contact.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Record opt-out for {contact}",
            "form": form,
            "contact": contact,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/consent/contact/record_opt_out.html", context)

    @admin.action(
        description="Record opt-out (verbal, e-mail or letter)", permissions=["record_opt_out"]
    )
    def record_opt_out_action(self, request, queryset):
        return form_action(
            request,
            modeladmin=self,
            queryset=queryset,
            form_class=RecordOptOutForm,
            title="Record opt-out",
            action_name="record_opt_out_action",
            apply=lambda form: record_opt_out(form, queryset, request.user),
        )

    def has_record_opt_out_permission(self, request) -> bool:
        return request.user.has_perm("consent.record_opt_out")

    @admin.action(description="Erase personal data (privacy request)", permissions=["erase"])
    def erase_action(self, request, queryset):
        return form_action(
            request,
            modeladmin=self,
            queryset=queryset,
            form_class=EraseForm,
            title="Erase personal data",
            action_name="erase_action",
            apply=lambda form: erase(form, queryset, request.user),
        )

    def has_erase_permission(self, request) -> bool:
        return request.user.has_perm("consent.erase_contact")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # people are erased, never deleted: their consent record must stay


class EraseForm(forms.Form):
    request_ref = forms.CharField(label="Request reference", max_length=100)
    confirm_erase = forms.BooleanField(
        label="I understand the name, e-mail, attributes and number are removed for good; "
        "the consent record and a block on the number stay."
    )


def erase(form: EraseForm, contacts, user) -> tuple[int, int]:
    done = skipped = 0
    for contact in contacts:
        if contact.erased_at:
            skipped += 1
            continue
        services.contact_erase(
            contact=contact, by=user, request_ref=form.cleaned_data["request_ref"]
        )
        done += 1
    return done, skipped


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


# --- Programs and disclosures -----------------------------------------------------------------


class DisclosureInline(admin.TabularInline):
    model = Disclosure
    fields = ["version", "effective_at", "text", "page_url"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "brand_name", "message_type", "double_opt_in", "active"]
    list_filter = ["message_type", "double_opt_in", "active"]
    search_fields = ["name", "slug", "brand_name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [DisclosureInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "brand_name", "message_type", "active"]}),
        ("Opt-in", {"fields": ["double_opt_in", "join_keywords", "frequency_text"]}),
        (
            "Replies",
            {
                "fields": [
                    "help_text",
                    "opt_in_confirmation_text",
                    "double_opt_in_request_text",
                    "opt_out_confirmation_text",
                ]
            },
        ),
        ("Links", {"fields": ["link_tracking", "link_utm"]}),
    ]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Disclosure)
class DisclosureAdmin(admin.ModelAdmin):
    list_display = ["program", "version", "effective_at", "short_hash", "page_url"]
    list_filter = ["program"]
    list_select_related = ["program"]
    readonly_fields = ["text_hash", "created_at"]

    @admin.display(description="SHA-256")
    def short_hash(self, disclosure: Disclosure) -> str:
        return disclosure.text_hash[:12]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_referenced:
            return [f.name for f in Disclosure._meta.fields]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is None or not obj.is_referenced


# --- The ledger -------------------------------------------------------------------------------


class ExportForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[
            ("consent", "Consent records (full provenance)"),
            ("opt-outs", "Opt-out log"),
            ("suppressions", "Suppressions"),
        ]
    )
    format = forms.ChoiceField(choices=[("csv", "CSV"), ("xlsx", "Excel"), ("json", "JSON")])
    program = forms.ModelChoiceField(Program.objects.all(), required=False)
    since = forms.DateTimeField(required=False, help_text="YYYY-MM-DD (UTC); empty: everything.")


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdminMixin, PhoneSearchMixin, BigTableAdmin):
    list_display = [
        "occurred_at",
        "phone",
        "program",
        "kind",
        "method",
        "source",
        "disclosure_version",
        "recorded_by_display",
    ]
    list_filter = ["program", "kind", "method", ("occurred_at", admin.DateFieldListFilter)]
    list_select_related = ["program", "disclosure", "recorded_by"]
    search_fields = ["=source"]
    search_help_text = "A phone number in any format, or an exact source."
    change_list_template = "admin/consent/consentevent/change_list.html"

    def has_import_permission(self, request) -> bool:
        return request.user.has_perm("consent.import_consent")

    @admin.display(description="Disclosure")
    def disclosure_version(self, event: ConsentEvent) -> str:
        return f"v{event.disclosure.version}" if event.disclosure else "—"

    @admin.display(description="Recorded by")
    def recorded_by_display(self, event: ConsentEvent) -> str:
        return event.recorded_by or event.recorded_by_label or "—"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ConsentEvent._meta.fields]

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="consent_consentevent_export",
            ),
            # Import: a file checked, then imported, by django-q2 tasks (consent/admin_import.py).
            path(
                "import/",
                self.admin_site.admin_view(lambda request: import_upload_view(request, self)),
                name="consent_consentevent_import",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = (extra_context or {}) | {
            "has_import_permission": self.has_import_permission(request),
            "can_export": request.user.has_perm("consent.export_consent"),
            "export_url": reverse("admin:consent_consentevent_export"),
        }
        return super().changelist_view(request, extra_context)

    def export_view(self, request):
        if not request.user.has_perm("consent.export_consent"):
            raise PermissionDenied
        form = ExportForm(request.GET or None)
        if request.GET and form.is_valid():
            kind, fmt = form.cleaned_data["kind"], form.cleaned_data["format"]
            rows = stream_export(
                kind, fmt, since=form.cleaned_data["since"], program=form.cleaned_data["program"]
            )
            response = StreamingHttpResponse(rows, content_type=content_type(fmt))
            response["Content-Disposition"] = f'attachment; filename="{filename(kind, fmt)}"'
            return response
        context = {
            **self.admin_site.each_context(request),
            "title": "Export consent records",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/consent/consentevent/export.html", context)


# --- Suppressions -----------------------------------------------------------------------------


class SuppressionForm(forms.ModelForm):
    phone = forms.CharField(max_length=40, help_text="Any format.")

    class Meta:
        model = Suppression
        fields = ["phone", "reason", "program", "note"]

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data["phone"])


class LiftForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Why it is lifted.")


class ActiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", "Active"), ("no", "Lifted")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.unlifted()
        if self.value() == "no":
            return queryset.filter(lifted_at__isnull=False)
        return queryset


@admin.register(Suppression)
class SuppressionAdmin(BigTableAdmin):
    form = SuppressionForm
    list_display = ["phone_display", "reason", "scope", "created_at", "created_by", "lifted_at"]
    list_filter = [ActiveFilter, "reason", "program"]
    list_select_related = ["program", "created_by"]
    search_fields = ["=note"]
    search_help_text = "A phone number in any format (erased numbers too)."
    actions = ["lift_action"]

    def get_search_results(self, request, queryset, search_term):
        e164 = try_normalize_phone(search_term)
        if e164:  # by hash, so erased numbers are found as well
            return queryset.filter(phone_hash=phone_hash(e164)), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="Phone")
    def phone_display(self, suppression: Suppression) -> str:
        return suppression.phone or "erased number"

    @admin.display(description="Scope")
    def scope(self, suppression: Suppression) -> str:
        return suppression.program.slug if suppression.program else "all programs"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["phone", "reason", "program", "note"]
        return [
            "phone",
            "reason",
            "program",
            "note",
            "evidence",
            "created_at",
            "created_by",
            "created_by_label",
            "lifted_at",
            "lifted_by",
            "lift_note",
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = services.suppression_add(
            phone=form.cleaned_data["phone"],
            reason=form.cleaned_data["reason"],
            program=form.cleaned_data["program"],
            note=form.cleaned_data["note"],
            created_by=request.user,
            created_by_label="admin",
        )
        obj.pk = created.pk
        obj._state.adding = False

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Lift selected suppressions", permissions=["lift"])
    def lift_action(self, request, queryset):
        def apply(form):
            done = sum(
                services.suppression_lift(
                    suppression=s, by=request.user, note=form.cleaned_data["note"]
                )
                for s in queryset
            )
            return done, len(queryset) - done

        return form_action(
            request,
            modeladmin=self,
            queryset=queryset,
            form_class=LiftForm,
            title="Lift suppressions",
            action_name="lift_action",
            apply=apply,
        )

    def has_lift_permission(self, request) -> bool:
        return request.user.has_perm("consent.change_suppression")
