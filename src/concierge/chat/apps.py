from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "concierge.chat"
    label = "chat"
    verbose_name = "Live chat"
