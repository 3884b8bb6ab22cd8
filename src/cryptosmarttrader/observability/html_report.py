"""One self-contained HTML page: a title, a table of figures, and charts (Plotly markup with
its script embedded), written atomically."""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path


def write_html_report(
    path: Path, title: str, summary: Mapping[str, object], charts_html: str
) -> Path:
    """Write the page to ``path`` (created or replaced) and return it."""
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
    )
    escaped = html.escape(title)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escaped}</title>"
        "<style>body{font-family:sans-serif;margin:2em}th{text-align:left;padding-right:2em}"
        "</style></head><body>"
        f"<h1>{escaped}</h1><table>{rows}</table>{charts_html}</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(path)
    return path
