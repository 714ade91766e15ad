"""The RO App (Remonline) API sandbox as a ``SandboxApp``: Bearer-key authentication,
routing to the in-memory account (``store.py``), scripted rejections, and the admin
actions tests use to steer it. Faults, latency, the per-key rate limit and the request
log are the shared ``SandboxServer``'s job.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from ..server import FaultSettings, Request, Response, key_fingerprint
from . import validation as v
from .profile import Profile, present, profile as make_profile
from .seed import RoAppSeedConfig, generate
from .store import DOCUMENTED_PATHS, LEGACY_PATHS, REFERENCE_KINDS, ROUTES, RoAppStore
from .validation import ApiError

DEFAULT_API_KEY = "sandbox-api-key"


class RoAppSandbox:
    """An RO App account answering the contract's API, for ``SandboxServer``.

    ``data`` is a starting state as ``seed.generate`` makes it (``state()`` output works
    too); ``api_keys`` are the keys accepted as ``Authorization: Bearer <key>``;
    ``list_format`` is ``"count"`` (``{"data", "count"}``) or ``"paging"`` (it overrides the
    profile's); ``profile`` is ``"documented"`` or ``"alternative"`` (``profile.py``) and
    ``profile_flags`` change single flags of it.
    """

    name = "roapp"

    def __init__(self, data: dict[str, Any], api_keys: Iterable[str] = (DEFAULT_API_KEY,), *,
                 list_format: str | None = None, profile: str = "documented",
                 profile_flags: dict[str, Any] | None = None):
        # One lock for everything: the server calls handle/state/admin from many threads.
        self._lock = threading.RLock()
        self._api_keys = _keys(list(api_keys))
        self._rejects: list[dict[str, str]] = []
        self.store = RoAppStore(data)
        self._use_profile(make_profile(profile, **(profile_flags or {})))
        if list_format is not None:
            self.store.list_format = _list_format(list_format)

    @classmethod
    def seeded(cls, api_keys: Iterable[str] = (DEFAULT_API_KEY,), *, list_format: str | None = None,
               profile: str = "documented", profile_flags: dict[str, Any] | None = None,
               **seed_config: Any) -> "RoAppSandbox":
        """A sandbox over ``generate(RoAppSeedConfig(**seed_config))``."""
        return cls(generate(RoAppSeedConfig(**seed_config)), api_keys, list_format=list_format, profile=profile,
                   profile_flags=profile_flags)

    def _use_profile(self, prof: Profile) -> dict[str, Any]:
        self.profile = prof
        self.store.list_format = _list_format(prof.list_format)
        self.store.undocumented_filters = prof.undocumented_filters
        self.store.comment_privacy = prof.comment_privacy
        return prof.as_dict()

    # --- the SandboxApp protocol ------------------------------------------------------

    def rate_key(self, request: Request) -> str | None:
        """The presented bearer token, valid or not: RO App counts the budget per key."""
        return _bearer(request)

    def log_body(self, request: Request) -> Any:
        """The JSON body (None when absent or not JSON); the key travels in a header, so
        bodies hold no secret."""
        if not request.body:
            return None
        try:
            return request.json()
        except ValueError:
            return None

    def handle(self, request: Request, faults: FaultSettings) -> Response:
        with self._lock:
            try:
                response = self._dispatch(request)
            except ApiError as exc:
                return exc.response()
            # The server encodes outside this lock: hand it a copy nothing else mutates.
            response.body = copy.deepcopy(response.body)
            return response

    def state(self) -> dict[str, Any]:
        """Reference data, people, products, orders with items, comments and status
        history, what managers deleted or merged, the accepted keys' fingerprints (never
        the keys), list format, rejects."""
        with self._lock:
            return {**self.store.snapshot(), "api_keys": sorted(key_fingerprint(k) for k in self._api_keys),
                    "list_format": self.store.list_format, "profile": self.profile.as_dict(),
                    "rejects": copy.deepcopy(self._rejects)}

    def admin(self, action: str, payload: Any) -> Any:
        """Actions: ``set_profile {"name": "documented"|"alternative", ...flags}`` (answers the
        profile's flags), ``set_list_format {"format": "count"|"paging"}``, ``reject {method,
        path (glob), field (dotted), contains, message}``, ``clear_rejects``,
        ``set_api_keys [keys]``, ``remove_custom_field {"title"}``, ``upsert_employees
        [employees]``, ``set_reference {branches?, statuses?, order_types?, custom_fields?,
        employees?}``; what a manager does in RO App's interface: ``delete_person {id}``,
        ``merge_people {keep, drop}``, ``delete_order {id}``, ``delete_product {id}`` (each
        answers the removed record; merge answers ``{keep, drop, orders, at, person}``).
        KeyError for an unknown action, ValueError for a bad payload."""
        actions: dict[str, Callable[[Any], Any]] = {
            "set_profile": self._set_profile, "set_list_format": self._set_list_format, "reject": self._add_reject,
            "clear_rejects": self._clear_rejects, "set_api_keys": self._set_api_keys,
            "remove_custom_field": self._remove_custom_field, "upsert_employees": self._upsert_employees,
            "set_reference": self._set_reference,
            "delete_person": lambda p: self.store.delete_person(_record_id(p)),
            "delete_order": lambda p: self.store.delete_order(_record_id(p)),
            "delete_product": lambda p: self.store.delete_product(_record_id(p)),
            "merge_people": self._merge_people,
        }
        if action not in actions:
            raise KeyError(f"{action}; known: {', '.join(actions)}")
        with self._lock:
            return copy.deepcopy(actions[action](payload))

    # --- dispatch ---------------------------------------------------------------------

    def _dispatch(self, request: Request) -> Response:
        token = _bearer(request)
        if token is None or token not in self._api_keys:
            raise ApiError(401, "Unauthorized: invalid or missing API key")
        path = request.path.rstrip("/") or "/"
        if (path in LEGACY_PATHS and not self.profile.legacy_paths) or (
                path in DOCUMENTED_PATHS and not self.profile.documented_paths):
            raise ApiError(404, "Not found")
        for pattern, methods in ROUTES:
            match = pattern.fullmatch(path)
            if not match:
                continue
            if request.method not in methods:
                raise ApiError(405, "Method not allowed", headers={"Allow": ", ".join(methods)})
            body = _body(request) if request.method in ("POST", "PATCH") else {}
            self._check_rejects(request.method, path, body)
            handler = methods[request.method]
            response = getattr(self.store, handler)(request, body, *map(int, match.groups()))
            if response.status < 400:
                response.body = present(self.profile, handler, copy.deepcopy(response.body),
                                        legacy=path in LEGACY_PATHS)
            return response
        raise ApiError(404, "Not found")

    def _check_rejects(self, method: str, path: str, body: dict[str, Any]) -> None:
        for rule in self._rejects:
            if rule["method"] != method or not fnmatch.fnmatchcase(path, rule["path"]):
                continue
            value = _lookup(body, rule["field"])
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            if value is not None and rule["contains"] in shown:
                raise ApiError(422, rule["message"], {rule["field"]: [rule["message"]]})

    # --- admin actions ----------------------------------------------------------------

    def _set_profile(self, payload: Any) -> dict[str, Any]:
        flags = dict(payload) if isinstance(payload, dict) else {"name": payload}
        return self._use_profile(make_profile(flags.pop("name", "documented"), **flags))

    def _set_list_format(self, payload: Any) -> dict[str, str]:
        self.store.list_format = _list_format(payload.get("format") if isinstance(payload, dict) else payload)
        return {"format": self.store.list_format}

    def _add_reject(self, payload: Any) -> list[dict[str, str]]:
        if not isinstance(payload, dict):
            raise ValueError("reject takes {method, path, field, contains, message}")
        rule = {"method": str(payload.get("method", "POST")).upper(), "path": payload.get("path"),
                "field": payload.get("field"), "contains": payload.get("contains"),
                "message": payload.get("message") or "Rejected by the RO App sandbox"}
        missing = [name for name in ("path", "field", "contains")
                   if not isinstance(rule[name], str) or not rule[name]]
        if missing:
            raise ValueError(f"reject needs non-empty strings for {missing}")
        rule["path"] = rule["path"].rstrip("/") or "/"
        self._rejects.append(rule)
        return self._rejects

    def _clear_rejects(self, payload: Any) -> dict[str, int]:
        cleared, self._rejects = len(self._rejects), []
        return {"cleared": cleared}

    def _set_api_keys(self, payload: Any) -> dict[str, list[str]]:
        self._api_keys = _keys(payload.get("api_keys") if isinstance(payload, dict) else payload)
        return {"api_keys": sorted(key_fingerprint(k) for k in self._api_keys)}

    def _remove_custom_field(self, payload: Any) -> dict[str, Any]:
        title = payload.get("title") if isinstance(payload, dict) else payload
        fields = self.store.reference["custom_fields"]
        for field in fields:
            if field["title"] == title:
                fields.remove(field)
                return field
        raise ValueError(f"no custom field titled {title!r}; there are {[f['title'] for f in fields]}")

    def _upsert_employees(self, payload: Any) -> list[dict[str, Any]]:
        rows = payload.get("employees") if isinstance(payload, dict) else payload
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError("upsert_employees takes a list of employee objects")
        employees = {e["id"]: e for e in self.store.reference["employees"]}
        branches = self.store.ids("branches")()
        for row in rows:
            if not set(row.get("branch_ids", [])) <= branches:
                raise ValueError(f"employee {row} has access to unknown branches; known: {sorted(branches)}")
            if "id" in row and row["id"] in employees:
                employees[row["id"]].update(row)
                continue
            new_id = row.get("id", max(employees, default=500) + 1)
            employees[new_id] = {"first_name": "", "last_name": "", "email": None, "role": "Manager",
                                 "is_active": True, "branch_ids": [], **row, "id": new_id}
        self.store.reference["employees"] = sorted(employees.values(), key=lambda e: e["id"])
        return self.store.reference["employees"]

    def _merge_people(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict) or set(payload) != {"keep", "drop"}:
            raise ValueError("merge_people takes {keep: <person id>, drop: <person id>}")
        return self.store.merge_people(payload["keep"], payload["drop"])

    def _set_reference(self, payload: Any) -> dict[str, int]:
        if not isinstance(payload, dict) or not payload or set(payload) - set(REFERENCE_KINDS):
            raise ValueError(f"set_reference takes an object with some of {list(REFERENCE_KINDS)}")
        for kind, rows in payload.items():
            label = REFERENCE_KINDS[kind]
            if not isinstance(rows, list) or not all(
                    isinstance(r, dict) and isinstance(r.get("id"), int) and isinstance(r.get(label), str)
                    for r in rows):
                raise ValueError(f"{kind} must be a list of objects with an integer id and a string {label}")
            if len({r["id"] for r in rows}) != len(rows):
                raise ValueError(f"{kind} has duplicate ids")
        self.store.reference.update(copy.deepcopy(payload))
        return {kind: len(rows) for kind, rows in self.store.reference.items()}


def _record_id(payload: Any) -> Any:
    """``{"id": 1001}`` or a bare ``1001``."""
    return payload.get("id") if isinstance(payload, dict) else payload


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.", {"body": ["Send a JSON object."]}) from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", {"body": ["Send a JSON object."]})
    return body


def _lookup(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(body, dict) or part not in body:
            return None
        body = body[part]
    return body


def _keys(keys: Any) -> set[str]:
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise ValueError("API keys must be a list of non-empty strings")
    return set(keys)


def _list_format(name: Any) -> str:
    if name not in v.LIST_FORMATS:
        raise ValueError(f"list format must be one of {v.LIST_FORMATS}, not {name!r}")
    return name
