"""Public endpoints of the messaging app (provider webhooks)."""

urlpatterns: list = []
