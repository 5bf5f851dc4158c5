"""Routes of the identity service. API modules add their paths here as they land."""

from django.urls import URLPattern, URLResolver

app_name = "identity"

urlpatterns: list[URLPattern | URLResolver] = []
