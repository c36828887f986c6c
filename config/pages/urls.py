"""The public hosted pages: the opt-in form and the preference centre."""

from django.urls import path

from . import views

app_name = "consent"

urlpatterns = [
    path("join/<slug:slug>/", views.join, name="join"),
    path("join/<slug:slug>/thanks/", views.join_done, name="join_done"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
]
