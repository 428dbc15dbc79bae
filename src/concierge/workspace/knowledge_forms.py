"""Forms of the knowledge base pages: parse what the author typed into the action's ``changes``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from concierge.knowledge.models import ArticleStatus, Category, Section, Visibility
from concierge.workspace.forms import MultipleFileField, WorkspaceForm, split_tags


class ArticleForm(WorkspaceForm):
    title = forms.CharField(label="Title", max_length=200)
    body = forms.CharField(
        label="Body",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "class": "kb-editor"}),
        help_text="Markdown: ## headings (they make the table of contents), **bold**, lists, "
        "links, and images uploaded below as ![description](their address).",
    )
    description = forms.CharField(
        label="Summary for search engines", max_length=300, required=False
    )
    section_id = forms.TypedChoiceField(label="Section", coerce=int, choices=())
    status = forms.ChoiceField(label="Status", choices=ArticleStatus.choices)
    visibility = forms.ChoiceField(
        label="Visible to",
        choices=Visibility.choices,
        help_text="Signed-in customers: visitors are asked to sign in to the portal first "
        "(the chat widget shows it to visitors your site identified), and search engines "
        "never list it. Chosen organizations: only customers of the organizations below. "
        "Agents only: never in the help center.",
    )
    organization_ids = forms.TypedMultipleChoiceField(
        label="For the customers of",
        coerce=int,
        required=False,
        choices=(),
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text="With “Chosen organizations”: hold Ctrl (⌘ on a Mac) to choose several.",
    )
    tags = forms.CharField(label="Tags", required=False, help_text="Separated by spaces or commas.")
    owner_id = forms.TypedChoiceField(
        label="Owner", coerce=int, empty_value=None, required=False, choices=()
    )
    review_due_on = forms.DateField(
        label="Review by", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    is_promoted = forms.BooleanField(label="Promote on the help center home", required=False)
    position = forms.IntegerField(label="Position in its section", min_value=0, initial=0)
    notify_followers = forms.BooleanField(
        label="Email the followers about this change",
        required=False,
        help_text="Readers who follow the article; when it is first published, those who "
        "follow its section.",
    )

    def __init__(
        self,
        *args: Any,
        sections: Sequence[Section] = (),
        owners: Sequence[Any] = (),
        organizations: Sequence[Any] = (),
        text_only: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["section_id"].choices = [  # type: ignore[attr-defined]
            (section.pk, f"{section.category.name} › {section.name}") for section in sections
        ]
        self.fields["owner_id"].choices = [("", "Nobody")] + [  # type: ignore[attr-defined]
            (owner.pk, owner.name) for owner in owners
        ]
        self.fields["organization_ids"].choices = [  # type: ignore[attr-defined]
            (organization.pk, organization.name) for organization in organizations
        ]
        self.text_only = text_only
        if text_only:
            # A translation changes the text only; the article's settings live with the source.
            for name in list(self.fields):
                if name not in {"title", "body", "description"}:
                    del self.fields[name]

    def changes(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("notify_followers", None)  # what to do after saving, not a change
        if "tags" in data:
            data["tags"] = split_tags(data["tags"])
        if data.get("visibility") != Visibility.ORGANIZATIONS:
            # the list stays in the page while hidden: only "Chosen organizations" reads it
            data.pop("organization_ids", None)
        return data


class TranslationPickForm(forms.Form):
    locale = forms.CharField(max_length=10, required=False)


class AttachmentsForm(WorkspaceForm):
    uploads = MultipleFileField(label="Add images or files")


class CategoryForm(WorkspaceForm):
    name = forms.CharField(label="Name", max_length=120)
    slug = forms.SlugField(
        label="Address", max_length=140, required=False, help_text="Left empty: from the name."
    )
    description = forms.CharField(label="Description", max_length=300, required=False)
    position = forms.IntegerField(label="Position", min_value=0, initial=0)


class SectionForm(CategoryForm):
    category_id = forms.TypedChoiceField(label="Category", coerce=int, choices=())

    def __init__(self, *args: Any, categories: Sequence[Category] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category_id"].choices = [  # type: ignore[attr-defined]
            (category.pk, category.name) for category in categories
        ]


class BrandingForm(WorkspaceForm):
    name = forms.CharField(label="Help center name", max_length=100)
    tagline = forms.CharField(label="Headline", max_length=200, required=False)
    primary_color = forms.CharField(
        label="Brand colour", max_length=7, widget=forms.TextInput(attrs={"type": "color"})
    )
    accent_color = forms.CharField(
        label="Accent colour", max_length=7, widget=forms.TextInput(attrs={"type": "color"})
    )
    text_color = forms.CharField(
        label="Text colour", max_length=7, widget=forms.TextInput(attrs={"type": "color"})
    )
    background_color = forms.CharField(
        label="Background colour", max_length=7, widget=forms.TextInput(attrs={"type": "color"})
    )
    default_locale = forms.CharField(label="Default language", max_length=10)
    locales = forms.CharField(
        label="Other languages",
        required=False,
        help_text="Language codes separated by spaces, e.g. fr de pt-br.",
    )
    logo = forms.FileField(label="Logo (PNG, JPEG, GIF or WebP, at most 1 MB)", required=False)
    remove_logo = forms.BooleanField(label="Remove the logo", required=False)


class ComposerSearchForm(forms.Form):
    q = forms.CharField(max_length=200, required=False)


class HelpCenterImportForm(WorkspaceForm):
    """Bring a help center over: an uploaded export, or the source's API with a token."""

    source = forms.ChoiceField(
        label="From", choices=[("zendesk", "Zendesk Guide"), ("helpscout", "Help Scout Docs")]
    )
    export = forms.FileField(
        label="Export (a ZIP of the JSON files saved from the API, or one JSON file)",
        required=False,
    )
    subdomain = forms.CharField(
        label="Zendesk subdomain",
        max_length=200,
        required=False,
        help_text="acme for https://acme.zendesk.com",
    )
    email = forms.EmailField(label="Zendesk agent's email", required=False)
    secret = forms.CharField(
        label="API token (Zendesk) or Docs API key (Help Scout)",
        max_length=255,
        required=False,
        strip=True,
        # Never sent back to the browser, not even when the form shows errors.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Used for this import only, then erased. Leave empty to use the export.",
    )
    dry_run = forms.BooleanField(
        label="Check only: read everything and report, write nothing",
        required=False,
        initial=True,
    )

    def clean_export(self) -> Any:
        from concierge.knowledge.imports import MAX_UPLOAD_BYTES

        upload = self.cleaned_data.get("export")
        if upload is not None and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The export is over the {MAX_UPLOAD_BYTES // 1024 // 1024} MB upload limit: "
                "split it, or import live from the API."
            )
        return upload
