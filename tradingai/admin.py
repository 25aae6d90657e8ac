from __future__ import annotations

from django.contrib import admin, messages

from tradingai.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Create a key by name (the secret is shown once, here); revoke by action."""

    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["name"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return super().save_model(request, obj, form, change)
        key, raw = ApiKey.issue(obj.name)
        obj.pk, obj.prefix, obj.digest = key.pk, key.prefix, key.digest
        messages.warning(request, f"The key for {obj.name}, shown only now: {raw}")

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset) -> None:
        for key in queryset:
            key.revoke()
