from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from identity.middleware_console import CONSOLE_PATH

admin.site.site_header = "Identity console"
admin.site.site_title = "Identity console"
admin.site.index_title = "Tenants, applications, users and keys"

urlpatterns = [
    path(CONSOLE_PATH, admin.site.urls),
    # The OpenAPI 3 document and Swagger UI (README: "API description"); anonymous, like FusionAuth's docs.
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="openapi-docs"),
    path("", include("identity.urls")),
]

# An API path no route serves answers 404 with an empty body, as every API 404 does.
handler404 = "identity.views.user_import.api_not_found"
