"""Reports: the JSON view-model of a run (view), what templates derive from it (present), escaping
for each output (escape), and one renderer per format (render)."""

from checker.report.escape import terminal_safe
from checker.report.render import (
    CSV_COLUMNS,
    Format,
    RenderOptions,
    github_annotations,
    json_text,
    pdf_available,
    render,
    sha256,
    summary,
)
from checker.report.view import REPORT_SCHEMA, view_model

__all__ = [
    "CSV_COLUMNS",
    "REPORT_SCHEMA",
    "Format",
    "RenderOptions",
    "github_annotations",
    "json_text",
    "pdf_available",
    "render",
    "sha256",
    "summary",
    "terminal_safe",
    "view_model",
]
