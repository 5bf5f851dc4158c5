from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Identity console"
admin.site.site_title = "Identity console"
admin.site.index_title = "Tenants, applications, users and keys"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("identity.urls")),
]

# An API path no route serves answers 404 with an empty body, as every API 404 does.
handler404 = "identity.views.user_import.api_not_found"
