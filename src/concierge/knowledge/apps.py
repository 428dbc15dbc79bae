from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "concierge.knowledge"
    label = "knowledge"
    verbose_name = "Knowledge base"

    def ready(self) -> None:
        # Articles are a source of the shared search index (see search.registry).
        try:
            from concierge.knowledge import search_source
        except ImportError:  # the search app is not installed in this build
            return
        search_source.register()
