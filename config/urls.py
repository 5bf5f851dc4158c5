from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Identity console"
admin.site.site_title = "Identity console"
admin.site.index_title = "Tenants, applications, users and keys"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("identity.urls")),
]
