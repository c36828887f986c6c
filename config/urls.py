from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "SMS back office"
admin.site.site_title = "SMS back office"
admin.site.index_title = "Programs, consent and messages"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("messaging.urls")),
]
