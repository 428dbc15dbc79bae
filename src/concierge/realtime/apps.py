from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "concierge.realtime"
    label = "realtime"
    verbose_name = "Real time"
