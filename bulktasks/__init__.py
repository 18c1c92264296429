"""Bulk tasks: uploaded files processed in the background, and their line-level reports."""
