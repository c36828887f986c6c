"""Partner API endpoints (being written)."""

urlpatterns: list = []
