"""The admin site: a home page per persona instead of the alphabetical list of apps."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path

from config.dashboard import is_internal, task_sections, week_chart, week_figures
from config.lib.attention import attention_items
from config.report_views import report_links, report_urls
from config.staff_time_zone import time_zone_view


class BackOfficeAdminSite(admin.AdminSite):
    site_header = "SMS back office"
    site_title = "SMS back office"
    index_title = "What needs you now"
    index_template = "home/index.html"

    def index(self, request: HttpRequest, extra_context=None) -> TemplateResponse:
        """What needs me now, the last 7 days, and the pages ordered by task."""
        series = week_figures(request)
        context = {
            **self.each_context(request),
            "title": self.index_title,
            "subtitle": None,
            "attention": attention_items(request),
            "series": series,
            "estimated": any(s.estimated for s in series),
            "chart": week_chart(series),
            "sections": task_sections(self, request, report_links(request, self)),
            **(extra_context or {}),
        }
        request.current_app = self.name
        return TemplateResponse(request, self.index_template, context)

    def get_urls(self) -> list:
        own = [
            path(
                "time-zone/",
                self.admin_view(lambda request: time_zone_view(self, request)),
                name="staff_time_zone",
            )
        ]
        return own + report_urls(self) + super().get_urls()

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        """The navigation, without internals (task queue, raw callbacks) for non-superusers."""
        app_list = super().get_app_list(request, app_label)
        if request.user.is_superuser:
            return app_list
        trimmed = []
        for app in app_list:
            models = [
                m
                for m in app["models"]
                if not is_internal(app["app_label"], m["object_name"].lower())
            ]
            if models:
                trimmed.append(app | {"models": models})
        return trimmed
