from typing import Any

from django.db import migrations, models


def mark_chat_sessions(apps: Any, schema_editor: Any) -> None:
    """Sessions a chat visitor still holds were the widget's; older widget sessions
    (a visitor's earlier visits) are no longer linked and stay counted as the help
    center's."""
    ChatVisitor = apps.get_model("chat", "ChatVisitor")
    HelpSession = apps.get_model("knowledge", "HelpSession")
    keys = ChatVisitor.objects.exclude(help_session_key="").values("help_session_key")
    HelpSession.objects.filter(key__in=keys).update(channel="chat")


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0005_help_center_import"),
        ("chat", "0002_visitor_help_session"),
    ]

    operations = [
        migrations.AddField(
            model_name="helpsession",
            name="channel",
            field=models.CharField(
                choices=[("help_center", "Help center"), ("chat", "Chat widget")],
                default="help_center",
                max_length=20,
            ),
        ),
        migrations.RunPython(mark_chat_sessions, migrations.RunPython.noop),
    ]
