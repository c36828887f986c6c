"""Admin building blocks shared by every app: big-table lists and form-backed actions."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property


def admin_time(value) -> str:
    """A moment as every admin page shows it: the staff's zone, one format, the zone named."""
    return date_format(timezone.localtime(value), "DATETIME_FORMAT") if value else "—"


def admin_date(value) -> str:
    """The day of a moment in the staff's zone, in the one date format (an aware UTC time
    formatted as is names the wrong day for part of every day)."""
    return date_format(timezone.localtime(value), "DATE_FORMAT") if value else "—"


class NoCountPaginator(Paginator):
    """Counts only as far as one row past the current page: never `COUNT(*)` on a big table.

    The admin then knows whether a next page exists, and the list's pagination template shows
    "previous / next" instead of a total.
    """

    #: Read by the admin's pagination and search templates: show no total.
    counts_rows = False

    def __init__(self, *args, page_number: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.page_number = max(page_number, 1)

    @cached_property
    def count(self) -> int:
        offset = (self.page_number - 1) * self.per_page
        window = self.object_list[offset : offset + self.per_page + 1]
        return offset + len(window.values_list("pk", flat=True))


class LabelledTabularInline(admin.TabularInline):
    """A tabular inline whose every control has an accessible name: a screen reader hears
    "Weight, variant 2" where the table shows only a column header (the admin renders each
    row's inputs without a label)."""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        verbose = self.model._meta.verbose_name

        class LabelledFormSet(formset):
            def add_fields(self, form, index) -> None:
                super().add_fields(form, index)
                row = f"{verbose} {index + 1}" if index is not None else f"new {verbose}"
                for name, field in form.fields.items():
                    label = "Delete" if name == "DELETE" else (field.label or name)
                    # A foreign key's select sits inside the admin's related-object wrapper.
                    widget = getattr(field.widget, "widget", field.widget)
                    widget.attrs["aria-label"] = f"{label}, {row}"

        return LabelledFormSet


class ReadOnlyAdminMixin:
    """A record nobody adds, edits or deletes in the admin: ledgers, logs, evidence.

    Whoever has the view permission sees it read-only.
    """

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class BigTableAdmin(admin.ModelAdmin):
    """For tables with millions of rows: no full counts, no facet counts, no "show all"."""

    paginator = NoCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_max_show_all = 0
    list_per_page = 50

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        try:
            page_number = int(request.GET.get("p", 1))
        except ValueError:
            page_number = 1
        return self.paginator(
            queryset, per_page, orphans, allow_empty_first_page, page_number=page_number
        )


def form_action(
    request: HttpRequest,
    *,
    modeladmin: admin.ModelAdmin,
    queryset: QuerySet,
    form_class: type[forms.Form],
    title: str,
    action_name: str,
    apply: Callable[[forms.Form], tuple[int, int]],
    form_kwargs: dict | None = None,
) -> HttpResponse | None:
    """An admin action that asks for a few fields on an intermediate page, then applies.

    `apply(form)` does the work through a service and returns (done, skipped); the result is
    reported with `message_user`. Invalid input re-renders the page; nothing is changed.
    """
    form_kwargs = form_kwargs or {}
    if request.POST.get("confirm"):
        form = form_class(request.POST, **form_kwargs)
        if form.is_valid():
            done, skipped = apply(form)
            level = messages.SUCCESS if done else messages.WARNING
            modeladmin.message_user(request, f"{title}: done {done}, skipped {skipped}.", level)
            return None
    else:
        form = form_class(**form_kwargs)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset[:50],
        "count": len(queryset[:1001]),
        "opts": modeladmin.model._meta,
        "action_name": action_name,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
    }
    return TemplateResponse(request, "admin/consent/form_action.html", context)
