"""Public pages of the consent app: the hosted opt-in form and the preference centre."""

urlpatterns: list = []
