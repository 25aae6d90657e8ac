"""API keys from the command line.

manage.py apikey create NAME    # prints the key once
manage.py apikey revoke NAME
manage.py apikey list
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tradingai.models import ApiKey


class Command(BaseCommand):
    help = "Create, revoke or list API keys."

    def add_arguments(self, parser):
        parser.add_argument("verb", choices=["create", "revoke", "list"])
        parser.add_argument("name", nargs="?")

    def handle(self, *args, **o):
        if o["verb"] == "list":
            for key in ApiKey.objects.order_by("name"):
                self.stdout.write(str(key))
            return
        if not o["name"]:
            raise CommandError(f"apikey {o['verb']} needs a NAME")
        if o["verb"] == "create":
            if ApiKey.objects.filter(name=o["name"]).exists():
                raise CommandError(f"a key named {o['name']!r} exists already")
            _, raw = ApiKey.issue(o["name"])
            self.stdout.write(raw)
            self.stderr.write("Shown once: store it now. Send it as the X-API-Key header.")
            return
        key = ApiKey.objects.filter(name=o["name"]).first()
        if key is None:
            raise CommandError(f"no key named {o['name']!r}")
        key.revoke()
        self.stdout.write(f"revoked {key}")
