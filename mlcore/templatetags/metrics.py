from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def metric(value: float | None, kind: str) -> str:
    """A metric for a table cell: a percentage, a count or a number; a dash when undefined."""
    if value is None or value == "":  # "": a key the report lacks (the template's missing value)
        return "\u2013"  # en dash
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "num4":
        return f"{value:+.4f}"
    return f"{value:,.2f}"
