"""What the RO App sandbox tests share: one server per test module (stopping one takes half
a second), a fresh account, request log and fault settings for each test, and a thin API
caller. The Cartum sandbox tests define their own ``server`` and ``admin``."""

from __future__ import annotations

import pytest
import requests

from cartum_roapp_sandbox.admin import SandboxAdmin
from cartum_roapp_sandbox.roapp import DEFAULT_API_KEY, RoAppSandbox
from cartum_roapp_sandbox.server import FaultSettings, SandboxServer


class Api:
    """A thin RO App API caller: base URL plus the Bearer header."""

    def __init__(self, base_url: str, key: str | None = DEFAULT_API_KEY):
        self.base_url = base_url
        self.session = requests.Session()
        if key is not None:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, body: dict | None = None, **kwargs) -> requests.Response:
        if body is not None:
            kwargs["json"] = body
        return self.session.request(method, self.base_url + path, timeout=10, **kwargs)

    def get(self, path: str, **params) -> requests.Response:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: dict) -> requests.Response:
        return self.call("POST", path, body)

    def patch(self, path: str, body: dict) -> requests.Response:
        return self.call("PATCH", path, body)

    def created(self, path: str, body: dict) -> dict:
        response = self.post(path, body)
        assert response.status_code == 201, response.text
        return response.json()

    def ids(self, path_and_query: str) -> list[int]:
        response = self.call("GET", path_and_query)
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()["data"]]


@pytest.fixture(scope="module")
def running_server():
    with SandboxServer(RoAppSandbox.seeded(), port=0, faults=FaultSettings(rate_limit=0)) as running:
        yield running


@pytest.fixture
def server(running_server):
    running_server.app = RoAppSandbox.seeded()
    running_server.requests.clear()
    running_server.faults = FaultSettings(rate_limit=0)
    return running_server


@pytest.fixture
def api(server) -> Api:
    return Api(server.url)


@pytest.fixture
def admin(server) -> SandboxAdmin:
    return SandboxAdmin(server.url)
