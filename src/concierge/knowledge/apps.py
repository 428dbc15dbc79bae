from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "concierge.knowledge"
    label = "knowledge"
    verbose_name = "Knowledge base"
