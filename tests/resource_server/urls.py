from django.urls import path, re_path

from tests.resource_server.views import items, items_verified_here

urlpatterns = [
    path("health", items),
    # Case-insensitive and slash-tolerant on purpose: a router that reads paths loosely must still
    # not let a spelling of a protected path through.
    re_path(r"(?i)^api/+items/+(?P<item>[^/]+)/*$", items),
    path("verified-here/items/<item>", items_verified_here),  # bench: a view checking tokens itself
]
