"""Template tags of the admin console."""

from __future__ import annotations

from typing import Any

from django import template

from identity.admin import keys_expiring_soon

register = template.Library()


@register.simple_tag
def expiring_keys() -> list[tuple[Any, str]]:
    """(key, status) of the keys in use that expire soon, for the index's warning."""
    return keys_expiring_soon()
