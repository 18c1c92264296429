"""Admin forms for staff: start a task by uploading a file."""

from __future__ import annotations

from django import forms

from bulktasks.actions import action_get, action_names
from bulktasks.columns import column_mapping_parse
from core.exceptions import ServiceError
from users.models import Organization


class BulkTaskUploadForm(forms.Form):
    """Start a bulk task for an organization, as its members do through the API."""

    organization = forms.ModelChoiceField(queryset=Organization.objects.order_by("slug"))
    action = forms.ChoiceField(choices=())
    override = forms.BooleanField(
        required=False, help_text="Update existing records instead of skipping them."
    )
    dry_run = forms.BooleanField(
        label="Dry run",
        required=False,
        help_text="Decide and report every line as a real run would, and write nothing.",
    )
    file = forms.FileField(
        help_text="CSV with a header row or JSON Lines, in UTF-8; or an Excel workbook (.xlsx)."
    )
    columns = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=(
            "Optional column mapping, a JSON object from a header in the file to a column: "
            '{"E-mail address": "email", "Given name": "firstName"}.'
        ),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        action = self.fields["action"]
        assert isinstance(action, forms.ChoiceField)
        # An upload starts an action that reads a file; an export is started elsewhere.
        action.choices = [
            (name, name)
            for name in action_names()
            if (handler := action_get(name)) is not None and handler.reads_file
        ]

    def clean_columns(self) -> dict[str, str] | None:
        """The mapping as the API reads it; the columns are checked against the action on upload."""
        try:
            return column_mapping_parse(self.cleaned_data.get("columns"))
        except ServiceError as exc:
            raise forms.ValidationError(exc.message) from exc
