"""Self-contained HTML: inline CSS, plots embedded as base64 PNG, no external assets."""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timezone
from pathlib import Path

from mlops_dl import files

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;
color:#1d232a;background:#fff;line-height:1.45}
h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:2px solid #e3e7ec;padding-bottom:4px;margin-top:32px}
.sub{color:#5b6672;margin-top:4px}table{border-collapse:collapse;margin:8px 0 16px;font-size:.92em}
th,td{border:1px solid #d5dbe1;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f1f4f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#0a7d32;font-weight:600}.warn{color:#a86400;font-weight:600}.alarm,.fail{color:#c0162c;font-weight:700}
.banner{padding:10px 14px;border-radius:6px;margin:14px 0;font-weight:600}
.banner.ok{background:#e4f6ea}.banner.warn{background:#fff3dc}.banner.alarm,.banner.fail{background:#fde4e7}
img{max-width:100%;border:1px solid #e3e7ec;margin:6px 0}code{background:#f1f4f7;padding:1px 4px}
ul.notes li{margin:2px 0}
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def fmt(value, digits: int = 4) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return esc(value)


def table(header: list[str], rows: list[list]) -> str:
    """An HTML table; numbers right-aligned; a cell given as ("text", "css") gets that class."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, tuple):
                cells.append(f'<td class="{esc(cell[1])}">{esc(cell[0])}</td>')
            elif isinstance(cell, (int, float)) and not isinstance(cell, bool):
                cells.append(f'<td class="num">{fmt(cell)}</td>')
            else:
                cells.append(f"<td>{fmt(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def kv_table(data: dict) -> str:
    return table(["key", "value"], [[k, v if isinstance(v, (int, float, str, bool)) or v is None
                                     else str(v)] for k, v in data.items()])


def img(png: bytes | Path, alt: str) -> str:
    data = png.read_bytes() if isinstance(png, Path) else png
    b64 = base64.b64encode(data).decode("ascii")
    return f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{b64}"/><figcaption>{esc(alt)}</figcaption></figure>'


def banner(status: str, text: str) -> str:
    return f'<div class="banner {esc(status)}">{esc(text)}</div>'


def notes(items: list[str]) -> str:
    return "<ul class=\"notes\">" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>" if items else ""


def page(title: str, subtitle: str, sections: list[tuple[str, str]]) -> str:
    """A whole document: title, subtitle, then (heading, html body) sections."""
    made = datetime.now(timezone.utc).isoformat(timespec="seconds")
    body = "".join(f"<section><h2>{esc(h)}</h2>{b}</section>" for h, b in sections)
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1><p class=\"sub\">{esc(subtitle)}"
            f" &middot; generated {esc(made)} by mlops-dl</p>{body}</body></html>")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fig_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def write(path: str | Path, document: str) -> Path:
    """Write atomically (temp file + rename)."""
    return files.write_text(path, document)
