"""Sandbox profiles: which side of every disagreement between the public RO App sources
(``shared/contracts/roapp-api.md``) the sandbox serves.

- ``documented``: what the API reference says. Bare single objects, phones as
  ``{phone, title}`` objects, barcodes as strings, ``{"data", "count"}`` lists, comment
  privacy by ``is_private``, custom fields named by ``title``, employees with ``role``,
  ``is_active`` and ``branch_ids``; the undocumented filters ``emails[]``, ``skus[]`` and
  ``barcodes[]`` are honoured; the legacy ``/branches/`` and ``/employees/`` still answer.
- ``alternative``: what some public code sees. Single objects wrapped in ``{"data": ...}``,
  phones as plain strings, barcodes as objects ``{code}``, ``{"data", "paging"}`` lists,
  comment privacy by ``visibility`` (``is_private`` ignored), custom fields named by
  ``name``, employees without role, active flag or location access, the undocumented
  filters ignored (the whole list comes back), the legacy paths gone (404).

Every flag can also be set on its own (``RoAppSandbox(profile=..., **flags)``, the admin
action ``set_profile {"name", ...flags}``). The legacy ``/employees/`` answers what public
code sees there in either profile: ``id, first_name, last_name, position, email``. What
the sandbox stores (``state()``) is the same under every profile; only the API's answers
and which request fields count differ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

#: Employee fields the alternative profile leaves out, and the legacy path's own fields.
EMPLOYEE_FACTS = ("role", "is_active", "branch_ids")
LEGACY_EMPLOYEE_FIELDS = ("id", "first_name", "last_name", "position", "email")

#: Handlers whose answer is one person, product, ... (the others answer lists or dictionaries).
SINGLE = {"create_order", "get_order", "update_order", "set_status", "add_item", "update_item", "delete_item",
          "add_comment", "create_person", "get_person", "update_person", "create_product", "update_product"}
PEOPLE = {"list_people", "create_person", "get_person", "update_person"}
PRODUCTS = {"list_products", "create_product", "update_product"}


@dataclass(frozen=True)
class Profile:
    name: str = "documented"
    wrapped_objects: bool = False
    phones_as_strings: bool = False
    barcodes_as_objects: bool = False
    list_format: str = "count"
    undocumented_filters: bool = True       # emails[], skus[], barcodes[] honoured
    employee_facts: bool = True             # role, is_active, branch_ids in the employees answer
    legacy_paths: bool = True               # /branches/ and /employees/ answer
    documented_paths: bool = True           # /v2/company/locations and /v2/company/employees answer
    comment_privacy: str = "is_private"     # the request field that makes a comment private
    custom_field_name: str = "title"        # the key naming a custom field

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PROFILES = {
    "documented": Profile(),
    "alternative": Profile(name="alternative", wrapped_objects=True, phones_as_strings=True,
                           barcodes_as_objects=True, list_format="paging", undocumented_filters=False,
                           employee_facts=False, legacy_paths=False, comment_privacy="visibility",
                           custom_field_name="name"),
}


def profile(name: str = "documented", **flags: Any) -> Profile:
    """A named profile with some flags changed; ValueError for an unknown name or flag."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, not {name!r}")
    unknown = set(flags) - set(Profile.__dataclass_fields__) - {"name"}
    if unknown:
        raise ValueError(f"unknown profile flag(s) {sorted(unknown)}; known: {sorted(Profile.__dataclass_fields__)}")
    if flags.get("comment_privacy", "is_private") not in ("is_private", "visibility"):
        raise ValueError("comment_privacy is is_private or visibility")
    if flags.get("custom_field_name", "title") not in ("title", "name"):
        raise ValueError("custom_field_name is title or name")
    return replace(PROFILES[name], **flags)


def present(prof: Profile, handler: str, body: Any, *, legacy: bool = False) -> Any:
    """The answer of ``handler`` as this profile shapes it (``body`` is a fresh copy)."""
    if handler in PEOPLE:
        _each(body, handler, lambda row: _phones(prof, row))
    elif handler in PRODUCTS:
        _each(body, handler, lambda row: _barcodes(prof, row))
    elif handler == "list_custom_fields" and prof.custom_field_name == "name":
        body = [{("name" if k == "title" else k): v for k, v in row.items()} for row in body]
    elif handler == "list_employees":
        _each(body, handler, lambda row: _employee(prof, row, legacy))
    if handler in SINGLE and prof.wrapped_objects:
        body = {"data": body}
    return body


def _each(body: Any, handler: str, change) -> None:
    for row in ([body] if handler in SINGLE else body.get("data") or []):
        change(row)


def _phones(prof: Profile, row: dict[str, Any]) -> None:
    if prof.phones_as_strings:
        row["phones"] = [p["phone"] for p in row.get("phones") or []]


def _barcodes(prof: Profile, row: dict[str, Any]) -> None:
    if prof.barcodes_as_objects:
        row["barcodes"] = [{"code": b} for b in row.get("barcodes") or []]


def _employee(prof: Profile, row: dict[str, Any], legacy: bool) -> None:
    if legacy:
        position = row.get("role")
        for name in list(row):
            if name not in LEGACY_EMPLOYEE_FIELDS:
                del row[name]
        row["position"] = position
    elif not prof.employee_facts:
        for name in EMPLOYEE_FACTS:
            row.pop(name, None)
