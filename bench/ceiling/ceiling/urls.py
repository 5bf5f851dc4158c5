from django.urls import path

from ceiling.views import Bare, OneUpdate

urlpatterns = [
    path("bare", Bare.as_view()),
    path("update", OneUpdate.as_view()),
]
