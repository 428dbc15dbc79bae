from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "concierge.demo"
    label = "demo"
    verbose_name = "Demo data"
