from django.apps import AppConfig


class AiConfig(AppConfig):
    name = "concierge.ai"
    label = "ai"
    verbose_name = "AI"
