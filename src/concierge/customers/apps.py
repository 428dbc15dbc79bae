from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "concierge.customers"
    label = "customers"
