"""Template admin: marketing writes, compliance reviews in a queue; four eyes on every version."""

from __future__ import annotations

import difflib
import json
import re

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from config.lib.admin_tools import ReadOnlyAdminMixin, form_action
from consent.models import Contact

from . import rendering
from .checks import run_checks
from .encoding import analyze
from .links import shortened_for_count
from .models import (
    MessageTemplate,
    ReviewQueueItem,
    TemplateVersion,
    TemplateVersionEvent,
    TransitionError,
    VersionStatus,
    default_check_config,
    validate_body,
)
from .services import template_create


class VersionInline(admin.TabularInline):
    model = TemplateVersion
    fields = ["number", "status", "body", "author", "reviewer", "reviewed_at", "segments"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


BODY_HELP = (
    "Tokens: {first_name}, {first_name|there} (with a default), "
    "{attr.loyalty_tier}, {event.appointment_at:time}. {{ and }} for literal braces."
)


class NewTemplateForm(forms.ModelForm):
    """A new template with its first version's text: one step, not two."""

    body = forms.CharField(
        label="First version",
        max_length=1600,
        help_text=BODY_HELP + " Saved as a draft; submit it for review on the next page.",
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80, "spellcheck": "true"}),
    )

    class Meta:
        model = MessageTemplate
        fields = ["name", "program", "category", "first_contact", "description"]

    def clean_body(self) -> str:
        body = self.cleaned_data["body"]
        validate_body(body)
        return body


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "program", "category", "approved", "pending", "owner"]
    list_filter = ["program", "category"]
    list_select_related = ["program", "owner"]
    search_fields = ["name", "description"]
    fields = ["name", "program", "category", "first_contact", "description"]
    inlines = [VersionInline]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = NewTemplateForm
            kwargs["fields"] = [*self.fields, "body"]
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        return self.fields if obj else [*self.fields, "body"]

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def get_queryset(self, request):
        approved = TemplateVersion.objects.filter(
            template=OuterRef("pk"), status=VersionStatus.APPROVED
        ).values("number")[:1]
        return (
            super()
            .get_queryset(request)
            .annotate(
                approved_number=Subquery(approved),
                pending_count=Count("versions", filter=Q(versions__status="pending_review")),
            )
        )

    @admin.display(description="Approved version", ordering="approved_number")
    def approved(self, template: MessageTemplate) -> str:
        return f"v{template.approved_number}" if template.approved_number else "—"

    @admin.display(description="Pending review", ordering="pending_count")
    def pending(self, template: MessageTemplate) -> int:
        return template.pending_count

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        request.first_version = template_create(
            template=obj, body=form.cleaned_data["body"], by=request.user
        )

    def response_add(self, request, obj, post_url_continue=None):
        """Straight to the first version: its meter, its checks and the submit button."""
        version = getattr(request, "first_version", None)
        if version is None or "_addanother" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(
            request, f"{obj} saved with {version} as a draft: submit it for review when ready."
        )
        return redirect(reverse("admin:templates_templateversion_change", args=[version.pk]))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class VersionForm(forms.ModelForm):
    class Meta:
        model = TemplateVersion
        fields = ["template", "body"]
        widgets = {
            "body": forms.Textarea(
                attrs={"rows": 6, "cols": 80, "class": "sms-editor", "spellcheck": "true"}
            )
        }
        help_texts = {"body": BODY_HELP}


class ReasonForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Why")


TRANSITIONS = {
    "submit": "Submit for review",
    "approve": "Approve",
    "reject": "Reject",
    "retire": "Retire",
    "new_draft": "Edit as a new version",
}


def apply_transition(version: TemplateVersion, name: str, user, note: str = ""):
    if name == "submit":
        return version.submit(by=user)
    if name == "approve":
        return version.approve(by=user, note=note)
    if name == "reject":
        return version.reject(by=user, note=note)
    if name == "retire":
        return version.retire(by=user, note=note)
    if name == "new_draft":
        return version.new_draft(by=user)
    raise TransitionError(f"Unknown transition “{name}”.")


class VersionAdminBase(admin.ModelAdmin):
    form = VersionForm
    list_display = [
        "__str__",
        "status",
        "author",
        "submitted_at",
        "reviewer",
        "encoding",
        "segments",
        "blocking",
    ]
    list_filter = ["status", "template__program", "template__category"]
    list_select_related = ["template", "author", "reviewer"]
    search_fields = ["template__name", "body"]
    change_form_template = "admin/templates/templateversion/change_form.html"
    actions = ["submit_action", "approve_action", "reject_action", "retire_action"]

    @admin.display(description="Blocking findings")
    def blocking(self, version: TemplateVersion) -> str:
        codes = [f["code"] for f in version.findings if f.get("severity") == "block"]
        return ", ".join(codes) or "—"

    def get_readonly_fields(self, request, obj=None):
        base = ["status", "author", "submitted_at", "reviewer", "reviewed_at", "review_note"]
        if obj is None:
            return []
        if obj.status != VersionStatus.DRAFT:
            return ["template", "body", *base]
        return ["template", *base]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["template", "body"]
        return [
            "template",
            "body",
            "status",
            "author",
            "submitted_at",
            "reviewer",
            "reviewed_at",
            "review_note",
        ]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Reviewers need the change page for the approve / reject buttons.
        return super().has_change_permission(request, obj) or self.has_review_permission(request)

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("templates.review_templateversion")

    def has_submit_permission(self, request) -> bool:
        return request.user.has_perm("templates.change_templateversion")

    def has_retire_permission(self, request) -> bool:
        return self.has_review_permission(request) or self.has_submit_permission(request)

    # --- views --------------------------------------------------------------------------------

    def get_urls(self):
        name = self.model._meta.model_name
        return [
            path(
                "analyze/",
                self.admin_site.admin_view(self.analyze_view),
                name=f"templates_{name}_analyze",
            ),
            path(
                "<int:pk>/transition/<str:transition>/",
                self.admin_site.admin_view(self.transition_view),
                name=f"templates_{name}_transition",
            ),
            path(
                "<int:pk>/diff/",
                self.admin_site.admin_view(self.diff_view),
                name=f"templates_{name}_diff",
            ),
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name=f"templates_{name}_preview",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if version is not None:
            extra_context |= self._version_context(request, version)
        return super().change_view(request, object_id, form_url, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        extra_context = (extra_context or {}) | {"analyze_url": self._url("analyze")}
        return super().add_view(request, form_url, extra_context)

    def _url(self, view: str, *args) -> str:
        return reverse(f"admin:templates_{self.model._meta.model_name}_{view}", args=args)

    def _version_context(self, request, version: TemplateVersion) -> dict:
        can_review = self.has_review_permission(request)
        can_edit = request.user.has_perm("templates.change_templateversion")
        is_author = version.author_id == request.user.pk
        buttons = []
        if version.status == VersionStatus.DRAFT and can_edit:
            buttons.append("submit")
        if version.status == VersionStatus.PENDING_REVIEW and can_review and not is_author:
            buttons += ["approve", "reject"]
        if version.status == VersionStatus.APPROVED and (can_review or can_edit):
            buttons.append("retire")
        if version.status != VersionStatus.DRAFT and can_edit:
            buttons.append("new_draft")
        others = version.template.versions.exclude(pk=version.pk).order_by("-number")
        return {
            "version": version,
            "transitions": [
                (name, TRANSITIONS[name], self._url("transition", version.pk, name))
                for name in buttons
            ],
            "needs_reason": {"reject"},
            "analysis": analysis_payload(version.body, template_id=version.template_id),
            "history": version.events.select_related("by"),
            "other_versions": others,
            "diff_url": self._url("diff", version.pk),
            "preview_url": self._url("preview", version.pk),
            "analyze_url": self._url("analyze"),
            "four_eyes_blocked": is_author
            and can_review
            and version.status == VersionStatus.PENDING_REVIEW,
        }

    def transition_view(self, request: HttpRequest, pk: int, transition: str):
        version = get_object_or_404(TemplateVersion, pk=pk)
        change_url = reverse("admin:templates_templateversion_change", args=[pk])
        if request.method != "POST":
            return redirect(change_url)
        allowed = {
            "submit": self.has_submit_permission(request),
            "approve": self.has_review_permission(request),
            "reject": self.has_review_permission(request),
            "retire": self.has_retire_permission(request),
            "new_draft": self.has_submit_permission(request),
        }
        if not allowed.get(transition):
            raise PermissionDenied
        note = request.POST.get("note", "")
        try:
            result = apply_transition(version, transition, request.user, note)
        except (TransitionError, ValidationError) as exc:
            self.message_user(
                request, "; ".join(getattr(exc, "messages", [str(exc)])), messages.ERROR
            )
            return redirect(change_url)
        if isinstance(result, TemplateVersion):
            self.message_user(request, f"{result} created as a draft.", messages.SUCCESS)
            return redirect(reverse("admin:templates_templateversion_change", args=[result.pk]))
        version.refresh_from_db()
        self.message_user(
            request, f"{version} is {version.get_status_display().lower()}.", messages.SUCCESS
        )
        return redirect(change_url)

    def analyze_view(self, request: HttpRequest):
        """Live editor: encoding, segments, non-GSM characters and findings for a body."""
        if request.method != "POST":
            return JsonResponse(
                {"code": "method_not_allowed", "message": "POST a body."}, status=405
            )
        try:
            payload = json.loads(request.body or b"{}")
            body = str(payload.get("body", ""))[:1600]
        except (ValueError, AttributeError):
            return JsonResponse(
                {"code": "bad_json", "message": 'Send JSON {"body": ...}.'}, status=400
            )
        return JsonResponse(analysis_payload(body, template_id=payload.get("template")))

    def diff_view(self, request: HttpRequest, pk: int):
        version = get_object_or_404(TemplateVersion, pk=pk)
        others = version.template.versions.exclude(pk=pk).order_by("-number")
        against = others.filter(pk=request.GET.get("against")).first() or others.first()
        rows = word_diff(against.body, version.body) if against is not None else []
        context = {
            **self.admin_site.each_context(request),
            "title": f"Changes in {version}",
            "opts": self.model._meta,
            "version": version,
            "against": against,
            "others": others,
            "rows": rows,
        }
        return TemplateResponse(request, "admin/templates/templateversion/diff.html", context)

    def preview_view(self, request: HttpRequest, pk: int):
        version = get_object_or_404(TemplateVersion, pk=pk)
        contact = Contact.objects.filter(pk=request.GET.get("contact")).first() or (
            Contact.objects.filter(erased_at__isnull=True).exclude(first_name="").first()
        )
        rendered = error = None
        if contact is not None:
            try:
                rendered = version.compiled.render(
                    rendering.contact_token_values(contact),
                    tz=contact.time_zone or None,
                )
            except rendering.MissingTokenError as exc:
                error = f"Held for this contact (missing_token): {', '.join(exc.tokens)}"
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview of {version}",
            "opts": self.model._meta,
            "version": version,
            "contact": contact,
            "rendered": rendered,
            "analysis": analyze(as_sent(rendered, version.template)) if rendered else None,
            "error": error,
        }
        return TemplateResponse(request, "admin/templates/templateversion/preview.html", context)

    # --- actions ------------------------------------------------------------------------------

    def _bulk(self, request, queryset, name: str, note: str = "") -> tuple[int, int]:
        done = skipped = 0
        for version in queryset:
            try:
                apply_transition(version, name, request.user, note)
                done += 1
            except (TransitionError, ValidationError):
                skipped += 1
        return done, skipped

    def _report(self, request, label: str, result: tuple[int, int]) -> None:
        done, skipped = result
        level = messages.SUCCESS if done else messages.WARNING
        self.message_user(request, f"{label}: done {done}, skipped {skipped}.", level)

    @admin.action(description="Submit for review", permissions=["submit"])
    def submit_action(self, request, queryset):
        self._report(request, "Submit", self._bulk(request, queryset, "submit"))

    @admin.action(description="Approve (not your own)", permissions=["review"])
    def approve_action(self, request, queryset):
        self._report(request, "Approve", self._bulk(request, queryset, "approve"))

    @admin.action(description="Reject…", permissions=["review"])
    def reject_action(self, request, queryset):
        return form_action(
            request,
            modeladmin=self,
            queryset=queryset,
            form_class=ReasonForm,
            title="Reject versions",
            action_name="reject_action",
            apply=lambda form: self._bulk(request, queryset, "reject", form.cleaned_data["note"]),
        )

    @admin.action(description="Retire", permissions=["retire"])
    def retire_action(self, request, queryset):
        self._report(request, "Retire", self._bulk(request, queryset, "retire"))


_WORDS = re.compile(r"\s+|[^\s]+")


def word_diff(old: str, new: str) -> list[tuple[str, str, str]]:
    """`(op, old text, new text)` runs from `old` to `new`, whole words at a time (a changed
    word shows as that word struck and its replacement, never as scattered letters)."""
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return [
        (op, "".join(a[a1:a2]), "".join(b[b1:b2])) for op, a1, a2, b1, b2 in matcher.get_opcodes()
    ]


def _template_id(value) -> int | None:
    """A template id from the editor or the API: a number, or nothing (none chosen yet)."""
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def template_for(template_id) -> MessageTemplate | None:
    template_id = _template_id(template_id)
    if template_id is None:
        return None
    return MessageTemplate.objects.filter(pk=template_id).select_related("program").first()


def as_sent(body: str, template: MessageTemplate | None) -> str:
    """`body` as its program sends it: tracked links become short links of typical length."""
    if template is None or not template.program.link_tracking or not settings.SMS_LINK_DOMAIN:
        return body
    return shortened_for_count(body, settings.SMS_ALLOWED_LINK_DOMAINS, settings.SMS_LINK_DOMAIN)


def analysis_payload(body: str, template_id=None) -> dict:
    """What the editor and the API show for a body: encoding, segments and findings, checked
    with the template's settings (or the deployment's, before a template is chosen).

    `segments` counts the body as sent with each token at its shortest (its default, or
    nothing), the figure the segment findings use; `segments_max` with each token at its
    longest. Both equal the plain count for a body without tokens. When the template's program
    tracks links, every count is of the body with its tracked links shortened (`as_sent`).
    """
    template = template_for(template_id)
    config = template.check_config() if template else default_check_config()
    analysis = analyze(as_sent(body, template))
    smart = analyze(as_sent(body, template), smart_encoding=True)
    findings = run_checks(body, config)
    token_error = None
    shortest = longest = analysis
    try:
        compiled = validate_body(body)
    except ValidationError as exc:
        token_error = " ".join(exc.messages)
    else:
        if compiled.tokens:
            shortest = analyze(as_sent(compiled.shortest_text(), template))
            longest = analyze(
                as_sent(
                    compiled.worst_case_text(
                        config.token_max_lengths, default_length=config.default_token_length
                    ),
                    template,
                )
            )
    return {
        "encoding": analysis.encoding,
        "segments": shortest.segments,
        "segments_max": max(longest.segments, shortest.segments),
        "characters": analysis.characters,
        "non_gsm": list(analysis.non_gsm),
        "smart_encoding": {
            "text": smart.text,
            "encoding": smart.encoding,
            "segments": smart.segments,
            "replaced": [list(pair) for pair in smart.replaced],
        },
        "findings": [f.as_dict() for f in findings],
        "token_error": token_error,
    }


@admin.register(TemplateVersion)
class TemplateVersionAdmin(VersionAdminBase):
    pass


@admin.register(ReviewQueueItem)
class ReviewQueueAdmin(VersionAdminBase):
    """Compliance's queue: versions waiting for review, oldest first."""

    list_display = ["__str__", "author", "submitted_at", "segments", "blocking", "warnings"]
    list_filter = ["template__program", "template__category"]
    actions = ["approve_action", "reject_action"]
    ordering = ["submitted_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=VersionStatus.PENDING_REVIEW)

    @admin.display(description="Warnings")
    def warnings(self, version: TemplateVersion) -> str:
        codes = [f["code"] for f in version.findings if f.get("severity") == "warn"]
        return ", ".join(codes) or "—"

    def has_add_permission(self, request) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_review_permission(request) or super().has_view_permission(request, obj)

    def has_module_permission(self, request) -> bool:
        return self.has_review_permission(request)


@admin.register(TemplateVersionEvent)
class TemplateVersionEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "version", "from_status", "to_status", "by", "note"]
    list_filter = ["to_status"]
    list_select_related = ["version__template", "by"]
