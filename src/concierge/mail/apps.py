from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "concierge.mail"
    label = "mail"
    verbose_name = "Email"
