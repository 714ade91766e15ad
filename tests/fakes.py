"""Small stand-ins for tests: web servers that answer what an API should not."""

from __future__ import annotations

from cartum_roapp_sandbox.server import Response, html_page


class FakeApp:
    """A sandbox app with no rate limit, no request bodies to log, no state, no admin."""

    name = "fake"

    def handle(self, request, faults):
        raise NotImplementedError

    def rate_key(self, request):
        return None

    def log_body(self, request):
        return None

    def state(self):
        return {}

    def admin(self, action, payload):
        raise KeyError(action)


class HtmlApp(FakeApp):
    """Not an API: every request gets an HTML page with HTTP 200 (a JS challenge, a parked domain)."""

    def handle(self, request, faults):
        return html_page(200, "Checking your browser")


class StatusApp(FakeApp):
    """Answers every request with one fixed HTTP status and JSON message (e.g. a 403)."""

    def __init__(self, status: int, message: str):
        self.status, self.message = status, message

    def handle(self, request, faults):
        return Response(self.status, {"message": self.message})
