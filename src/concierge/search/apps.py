from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "concierge.search"
    label = "search"
    verbose_name = "Search"
