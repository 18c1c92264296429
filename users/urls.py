"""Routes under /v1/auth."""

from django.urls import path

from users.views import LogoutView, TokenObtainView, TokenRefreshView

urlpatterns = [
    path("auth/token", TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/refresh", TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
]
