from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "concierge.tickets"
    label = "tickets"
