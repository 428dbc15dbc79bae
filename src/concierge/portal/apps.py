from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "concierge.portal"
    label = "portal"
