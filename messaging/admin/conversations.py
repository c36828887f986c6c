"""Conversations (support answers people) and the revocation review queue (compliance decides).

Every change goes through `messaging.conversations`; the admin only asks, reports and logs
(`LogEntry`, with who and when). A reply the consent gate blocks is shown to the agent with
its reason, never sent.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from config.lib.admin_tools import BigTableAdmin, form_action
from consent.admin import PhoneSearchMixin, status_badge
from consent.models import ConsentState
from consent.selectors import Reason

from .. import conversations as services
from ..models import Conversation, MessageStatus, RevocationReview

# --- Conversations --------------------------------------------------------------------------


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        return [("me", "Mine"), ("none", "Unassigned")]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(assignee=request.user)
        if self.value() == "none":
            return queryset.filter(assignee__isnull=True)
        return queryset


class ReplyForm(forms.Form):
    canned = forms.ChoiceField(label="Canned response", required=False)
    body = forms.CharField(
        label="Reply", required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 70})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.canned = services.canned_responses()
        self.fields["canned"].choices = [("", "—")] + [
            (str(i), title) for i, (title, _) in enumerate(self.canned)
        ]

    def reply_text(self) -> str:
        """The typed reply, or the chosen canned response when nothing was typed."""
        body = self.cleaned_data.get("body", "").strip()
        choice = self.cleaned_data.get("canned")
        if not body and choice:
            body = self.canned[int(choice)][1]
        return body


def _outcome(done: int, skipped: int, what: str) -> tuple[str, int]:
    level = messages.SUCCESS if done else messages.WARNING
    return f"{what}: done {done}, skipped {skipped}.", level


@admin.register(Conversation)
class ConversationAdmin(PhoneSearchMixin, BigTableAdmin):
    phone_lookup = "contact__phone"
    phone_suffix_lookup = "contact__phone"
    list_display = ["contact", "sender", "status", "assignee", "last_message_at", "consent"]
    list_filter = ["status", AssigneeFilter, "sender"]
    list_select_related = ["contact", "sender", "assignee"]
    search_fields = ["^contact__last_name", "^contact__first_name"]
    search_help_text = "A phone number in any format, or a name."
    ordering = ["-last_message_at"]
    actions = ["assign_to_me_action", "close_action", "reopen_action"]
    fields = [
        "contact",
        "sender",
        "status",
        "assignee",
        "opened_at",
        "last_message_at",
        "closed_at",
    ]
    readonly_fields = fields
    change_form_template = "admin/messaging/conversation/change_form.html"

    def get_queryset(self, request):
        states = ConsentState.objects.select_related("program").order_by("program__slug")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("contact__consent_states", states))
        )

    @admin.display(description="Consent")
    def consent(self, conversation: Conversation) -> str:
        states = conversation.contact.consent_states.all()
        if not states:
            return "—"
        return format_html_join(" ", "{}", ((status_badge(s),) for s in states))

    def has_add_permission(self, request) -> bool:
        return False  # a conversation starts when the person writes

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    # The status changes only through the actions and buttons below.
    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversation = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if conversation is not None:
            program = services.reply_program(conversation)
            extra_context |= {
                "history": services.conversation_history(conversation),
                "consent_states": ConsentState.objects.filter(contact=conversation.contact)
                .select_related("program")
                .order_by("program__slug"),
                "reply_program": program,
                "reply_form": ReplyForm(),
                "canned_texts": [text for _, text in services.canned_responses()],
                "can_act": self.has_change_permission(request, conversation),
                "show_save": False,
                "show_save_and_continue": False,
                "show_save_and_add_another": False,
                "show_delete_link": False,
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/reply/",
                view(self.reply_view),
                name="messaging_conversation_reply",
            ),
            path(
                "<int:pk>/do/<str:what>/",
                view(self.transition_view),
                name="messaging_conversation_transition",
            ),
            *super().get_urls(),
        ]

    def _editable(self, request: HttpRequest, pk: int) -> Conversation:
        conversation = get_object_or_404(
            Conversation.objects.select_related("contact", "sender"), pk=pk
        )
        if not self.has_change_permission(request, conversation):
            raise PermissionDenied
        return conversation

    def _back(self, conversation: Conversation) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:messaging_conversation_change", args=[conversation.pk])
        )

    @staticmethod
    def _blocked_reason(reason: str) -> str:
        try:
            return Reason(reason).label
        except ValueError:
            return reason.replace("_", " ")

    def reply_view(self, request: HttpRequest, pk: int):
        return require_POST(self._reply)(request, pk)

    def _reply(self, request: HttpRequest, pk: int):
        conversation = self._editable(request, pk)
        form = ReplyForm(request.POST)
        text = form.reply_text() if form.is_valid() else ""
        try:
            message = services.conversation_reply(
                conversation=conversation, body=text, by=request.user
            )
        except services.ConversationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return self._back(conversation)
        if message.status == MessageStatus.BLOCKED:
            self.log_change(request, conversation, f"Reply blocked ({message.reason})")
            self.message_user(
                request,
                f"Not sent: {self._blocked_reason(message.reason)}. The reply is kept as "
                f"blocked message #{message.pk}.",
                messages.ERROR,
            )
        else:
            self.log_change(request, conversation, f"Replied (message #{message.pk})")
            self.message_user(request, f"Reply queued (message #{message.pk}).", messages.SUCCESS)
        return self._back(conversation)

    TRANSITIONS = {
        "assign-to-me": ("Assigned to me", "assign"),
        "close": ("Closed", "close"),
        "reopen": ("Reopened", "reopen"),
    }

    def transition_view(self, request: HttpRequest, pk: int, what: str):
        return require_POST(self._transition)(request, pk, what)

    def _transition(self, request: HttpRequest, pk: int, what: str):
        if what not in self.TRANSITIONS:
            raise PermissionDenied
        conversation = self._editable(request, pk)
        label, _ = self.TRANSITIONS[what]
        if self._apply(request, conversation, what):
            self.message_user(request, f"{label}.", messages.SUCCESS)
        else:
            self.message_user(request, f"Nothing to do: it already was ({label}).", messages.INFO)
        return self._back(conversation)

    def _apply(self, request: HttpRequest, conversation: Conversation, what: str) -> bool:
        if what == "assign-to-me":
            done = services.conversation_assign(conversation=conversation, to=request.user)
        elif what == "close":
            done = services.conversation_close(conversation=conversation, by=request.user)
        else:
            done = services.conversation_reopen(conversation=conversation, by=request.user)
        if done:
            self.log_change(request, conversation, self.TRANSITIONS[what][0])
        return done

    def _bulk(self, request: HttpRequest, queryset, what: str) -> None:
        done = sum(self._apply(request, c, what) for c in queryset)
        text, level = _outcome(done, len(queryset) - done, self.TRANSITIONS[what][0])
        self.message_user(request, text, level)

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me_action(self, request, queryset):
        self._bulk(request, queryset, "assign-to-me")

    @admin.action(description="Close", permissions=["change"])
    def close_action(self, request, queryset):
        self._bulk(request, queryset, "close")

    @admin.action(description="Reopen", permissions=["change"])
    def reopen_action(self, request, queryset):
        self._bulk(request, queryset, "reopen")


# --- Revocation reviews ---------------------------------------------------------------------


class OverdueFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("2days", "Due within 2 days")]

    def queryset(self, request, queryset):
        now = timezone.now()
        pending = queryset.filter(status=RevocationReview.Status.PENDING)
        if self.value() == "overdue":
            return pending.filter(deadline__lt=now)
        if self.value() == "2days":
            return pending.filter(deadline__lt=now + timezone.timedelta(days=2))
        return queryset


class DecisionForm(forms.Form):
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why (kept with the decision and, for an opt-out, in the ledger).",
    )


@admin.register(RevocationReview)
class RevocationReviewAdmin(BigTableAdmin):
    list_display = [
        "deadline_display",
        "status",
        "text",
        "from_number",
        "to_number",
        "received_at",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["status", OverdueFilter]
    list_select_related = ["inbound", "contact", "decided_by"]
    search_fields = ["=inbound__from_number"]
    search_help_text = "The number that wrote, in E.164 (+14155552671)."
    ordering = ["deadline"]
    actions = ["revoked_action", "not_revocation_action"]
    fields = [
        "text",
        "from_number",
        "to_number",
        "received_at",
        "matched",
        "contact",
        "deadline",
        "status",
        "decided_by",
        "decided_at",
        "note",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = (extra_context or {}) | {
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Deadline", ordering="deadline")
    def deadline_display(self, review: RevocationReview) -> str:
        when = date_format(timezone.localtime(review.deadline), "DATETIME_FORMAT")
        if review.status == RevocationReview.Status.PENDING and review.deadline < timezone.now():
            return format_html(
                '<strong class="overdue" style="color:#b42318">{} · overdue</strong>', when
            )
        return when

    @admin.display(description="Message")
    def text(self, review: RevocationReview) -> str:
        return review.inbound.body

    @admin.display(description="From")
    def from_number(self, review: RevocationReview) -> str:
        return review.inbound.from_number

    @admin.display(description="To")
    def to_number(self, review: RevocationReview) -> str:
        return review.inbound.to_number

    @admin.display(description="Received")
    def received_at(self, review: RevocationReview):
        return review.inbound.received_at

    @admin.display(description="Rule")
    def matched(self, review: RevocationReview) -> str:
        return review.inbound.matched

    def _decide(self, request, queryset, *, revoked: bool, title: str, action: str):
        def apply(form: DecisionForm) -> tuple[int, int]:
            done = sum(
                services.review_decide(
                    review=review,
                    revoked=revoked,
                    by=request.user,
                    note=form.cleaned_data["note"],
                )
                for review in queryset
            )
            return done, len(queryset) - done

        return form_action(
            request,
            modeladmin=self,
            queryset=queryset,
            form_class=DecisionForm,
            title=title,
            action_name=action,
            apply=apply,
        )

    @admin.action(description="Decide: revoked (record the opt-out)", permissions=["change"])
    def revoked_action(self, request, queryset):
        return self._decide(
            request, queryset, revoked=True, title="Treat as opt-out", action="revoked_action"
        )

    @admin.action(description="Decide: not a revocation", permissions=["change"])
    def not_revocation_action(self, request, queryset):
        return self._decide(
            request,
            queryset,
            revoked=False,
            title="Not a revocation",
            action="not_revocation_action",
        )
