from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "concierge.api"
    label = "api"
