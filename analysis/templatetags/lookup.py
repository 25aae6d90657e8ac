from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict, key: str):
    """``mapping[key]`` in a template (None when absent)."""
    return mapping.get(key) if mapping else None
