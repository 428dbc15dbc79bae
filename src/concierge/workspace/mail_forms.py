"""Forms of the email settings pages: they parse input; the mail actions validate it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from concierge.accounts.models import Team
from concierge.mail.models import AfterImport, Mailbox, SmtpSecurity
from concierge.mail.outbound import PLACEHOLDERS
from concierge.workspace.forms import WorkspaceForm, set_choices

MEGABYTE = 1024 * 1024
PLACEHOLDER_HINT = "Placeholders: " + ", ".join("{" + name + "}" for name in PLACEHOLDERS) + "."

# Saved as typed; the secrets below are write-only and handled apart.
PLAIN_FIELDS = (
    "name", "address", "from_name", "is_active", "is_default",
    "imap_host", "imap_port", "imap_use_ssl", "imap_user", "imap_folder", "imap_after_import",
    "imap_move_to_folder", "smtp_host", "smtp_port", "smtp_security", "smtp_user",
    "spam_threshold", "reopen_solved_on_reply", "acknowledge_new_requests",
    "max_messages_per_sender_per_hour", "signature", "acknowledgement_subject",
    "acknowledgement_template", "assignment_notification_template",
    "customer_reply_notification_template",
)  # fmt: skip
# (secret field, its "remove" checkbox): blank keeps what is saved.
SECRET_FIELDS = (
    ("imap_password", "clear_imap_password"),
    ("smtp_password", "clear_smtp_password"),
    ("mailgun_signing_key", "clear_mailgun_signing_key"),
)


def _secret(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=255,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave blank to keep the saved one.",
    )


def _template(
    label: str, *, rows: int = 5, required: bool = True, max_length: int = 10_000
) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


class MailboxForm(WorkspaceForm):
    """A support address: identity, receiving (IMAP), sending (SMTP), processing, templates."""

    name = forms.CharField(label="Name", max_length=100)
    address = forms.EmailField(label="Support address", max_length=254)
    from_name = forms.CharField(
        label="From name", required=False, max_length=100, help_text="Shown to customers."
    )
    default_team = forms.ChoiceField(label="Team for new tickets", required=False)
    is_active = forms.BooleanField(label="Active", required=False, initial=True)
    is_default = forms.BooleanField(
        label="Default mailbox",
        required=False,
        help_text="Replies on tickets that did not come by mail leave from here.",
    )
    # Receiving over IMAP
    imap_host = forms.CharField(label="IMAP server", required=False, max_length=255)
    imap_port = forms.IntegerField(label="IMAP port", min_value=1, max_value=65535, initial=993)
    imap_use_ssl = forms.BooleanField(label="Use TLS (IMAPS)", required=False, initial=True)
    imap_user = forms.CharField(label="IMAP user", required=False, max_length=255)
    imap_password = _secret("IMAP password")
    clear_imap_password = forms.BooleanField(label="Remove the IMAP password", required=False)
    imap_folder = forms.CharField(label="Folder to watch", max_length=255, initial="INBOX")
    imap_after_import = forms.ChoiceField(
        label="After import",
        choices=AfterImport.choices,
        initial=AfterImport.FLAG_SEEN,
        help_text="Done only once the ticket is saved.",
    )
    imap_move_to_folder = forms.CharField(
        label="Move to folder", required=False, max_length=255, help_text="When moving."
    )
    # Sending over SMTP
    smtp_host = forms.CharField(label="SMTP server", required=False, max_length=255)
    smtp_port = forms.IntegerField(label="SMTP port", min_value=1, max_value=65535, initial=587)
    smtp_security = forms.ChoiceField(
        label="SMTP security", choices=SmtpSecurity.choices, initial=SmtpSecurity.STARTTLS
    )
    smtp_user = forms.CharField(label="SMTP user", required=False, max_length=255)
    smtp_password = _secret("SMTP password")
    clear_smtp_password = forms.BooleanField(label="Remove the SMTP password", required=False)
    # Receiving by webhook
    mailgun_signing_key = _secret("Mailgun signing key")
    clear_mailgun_signing_key = forms.BooleanField(
        label="Remove the Mailgun signing key", required=False
    )
    # Processing
    max_attachment_mb = forms.DecimalField(
        label="Largest attachment kept (MB)",
        min_value=0,
        max_value=1024,
        decimal_places=1,
        initial=20,
        help_text="Larger files are noted on the entry with their name and size.",
    )
    spam_threshold = forms.FloatField(
        label="Spam score threshold",
        initial=5.0,
        min_value=-1000,
        max_value=1000,
        help_text="Mail whose X-Spam-Score reaches this is tagged spam.",
    )
    max_messages_per_sender_per_hour = forms.IntegerField(
        label="Messages per sender per hour",
        min_value=1,
        max_value=100_000,
        initial=20,
        help_text="More are ignored as a likely mail loop.",
    )
    reopen_solved_on_reply = forms.BooleanField(
        label="A reply reopens a solved ticket",
        required=False,
        initial=True,
        help_text="When off, it opens a follow-up ticket.",
    )
    acknowledge_new_requests = forms.BooleanField(
        label="Acknowledge new requests",
        required=False,
        help_text="Never sent to automated senders, spam, or more than 3 an hour per sender.",
    )
    # Templates
    signature = _template("Mailbox signature", rows=3, required=False, max_length=2000)
    acknowledgement_subject = forms.CharField(label="Acknowledgement subject", max_length=255)
    acknowledgement_template = _template("Acknowledgement", rows=7)
    assignment_notification_template = _template("Agent notification: assigned", rows=3)
    customer_reply_notification_template = _template("Agent notification: customer replied")

    def __init__(self, *args: Any, teams: Sequence[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teams_by_id = {str(team.pk): team for team in teams}
        set_choices(
            self,
            "default_team",
            [("", "No team")] + [(key, team.name) for key, team in self.teams_by_id.items()],
        )

    @staticmethod
    def initial_from(mailbox: Mailbox) -> dict[str, Any]:
        initial: dict[str, Any] = {name: getattr(mailbox, name) for name in PLAIN_FIELDS}
        initial["default_team"] = str(mailbox.default_team_id or "")
        initial["max_attachment_mb"] = round(mailbox.max_attachment_bytes / MEGABYTE, 1)
        return initial

    @staticmethod
    def defaults() -> dict[str, Any]:
        """A new mailbox starts from the model's defaults (templates included)."""
        initial = MailboxForm.initial_from(Mailbox())
        initial["name"] = initial["address"] = ""
        return initial

    def changes(self) -> dict[str, Any]:
        """What to save: every plain field, and a secret only when typed or removed."""
        data = self.cleaned_data
        changes: dict[str, Any] = {name: data[name] for name in PLAIN_FIELDS}
        changes["default_team"] = self.teams_by_id.get(data["default_team"] or "")
        changes["max_attachment_bytes"] = int(data["max_attachment_mb"] * MEGABYTE)
        for secret, clear in SECRET_FIELDS:
            if data[clear]:
                changes[secret] = ""
            elif data[secret]:
                changes[secret] = data[secret]
        return changes
