from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "concierge.search"
    label = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        # Tickets and customers are indexed by search itself; articles are
        # registered by the knowledge app (see registry.py).
        from concierge.search import sources

        sources.register()
