"""Sandbox profiles: which side of every disagreement between the public Cartum sources
(``shared/contracts/cartum-api.md``) the sandbox serves.

- ``documented``: what the API docs say. An order's ``user`` is the registered buyer's id,
  a plain number (``null`` for a guest); any User-Agent gets the API.
- ``alternative``: the other side. ``user`` is an object ``{id, title, email, phone}``
  (what this project first coded against); a bot filter answers a request whose
  User-Agent looks like a script's (``python-requests/x``, ``python-urllib``, ``curl``, or
  none) with a small JS-challenge HTML page (HTTP 200), ``/api/`` included, as some stores'
  do; any other User-Agent gets the API.

Every flag can also be set on its own (``CartumSandbox(profile=..., profile_flags=...)``,
``--profile`` on the command line, the admin action ``set_profile {"name", ...flags}``).
What the sandbox stores (``state()``, where ``user`` is always an object or null) is the
same under every profile; only the API's answers differ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ..server import Response

#: User-Agents (substrings, lower case) the bot filter takes for scripts; an empty one too.
SCRIPT_AGENTS = ("python-requests", "python-urllib", "curl/", "wget/")

CHALLENGE_PAGE = (
    "<!DOCTYPE html><html><head><title>Just a moment...</title>"
    "<script>document.cookie='__js_challenge='+(6*7)+'; path=/';location.reload();</script></head>"
    "<body><noscript>Please enable JavaScript and cookies to continue.</noscript></body></html>"
)


@dataclass(frozen=True)
class Profile:
    name: str = "documented"
    user_as_number: bool = True      # an order's user: its id (documented) or an object {id, ...}
    bot_filter: bool = False         # script-like User-Agents get a JS-challenge page

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PROFILES = {
    "documented": Profile(),
    "alternative": Profile(name="alternative", user_as_number=False, bot_filter=True),
}


def profile(name: str = "documented", **flags: Any) -> Profile:
    """A named profile with some flags changed; ValueError for an unknown name or flag."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, not {name!r}")
    known = set(Profile.__dataclass_fields__) - {"name"}
    unknown = set(flags) - known
    if unknown:
        raise ValueError(f"unknown profile flag(s) {sorted(unknown)}; known: {sorted(known)}")
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise ValueError(f"profile flag {key} must be true or false, not {value!r}")
    return replace(PROFILES[name], **flags)


def challenge(prof: Profile, user_agent: str | None) -> Response | None:
    """The bot filter's answer to a request with this User-Agent, or None to let it through."""
    agent = (user_agent or "").strip().lower()
    if not prof.bot_filter or (agent and not any(script in agent for script in SCRIPT_AGENTS)):
        return None
    return Response(200, CHALLENGE_PAGE, content_type="text/html; charset=utf-8")


def present_order(prof: Profile, order: dict[str, Any]) -> dict[str, Any]:
    """An order as this profile answers it (``order`` is a copy that may be changed)."""
    user = order.get("user")
    if prof.user_as_number:
        order["user"] = user.get("id") if isinstance(user, dict) else user
    return order
