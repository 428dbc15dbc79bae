from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "concierge.automation"
    label = "automation"
    verbose_name = "Automation"
