"""Small stand-ins for tests: a web server that answers HTML where an API should be."""

from __future__ import annotations

from cartum_roapp_sync.sandbox.server import html_page


class HtmlApp:
    """Not an API: every request gets an HTML page with HTTP 200 (a JS challenge, a parked domain)."""

    name = "not-an-api"

    def handle(self, request, faults):
        return html_page(200, "Checking your browser")

    def rate_key(self, request):
        return None

    def log_body(self, request):
        return None

    def state(self):
        return {}

    def admin(self, action, payload):
        raise KeyError(action)
