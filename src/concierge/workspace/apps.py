from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "concierge.workspace"
    label = "workspace"
