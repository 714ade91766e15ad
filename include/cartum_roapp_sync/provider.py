"""Airflow provider metadata: registers the ``cartum`` and ``roapp`` connection types and
their forms. Airflow reads this through the ``apache_airflow_provider`` entry point, at
every start, so it imports nothing heavy."""

from __future__ import annotations

from typing import Any

from . import __version__

_OPTIONAL_NUMBER = {"type": ["number", "null"]}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "cartum-roapp-sync",
        "name": "Cartum ↔ RO App sync",
        "description": "Hooks and connection types for the Cartum store API and the RO App (Remonline) API.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "cartum",
                "hook-class-name": "cartum_roapp_sync.cartum.hook.CartumHook",
                "hook-name": "Cartum store",
                "conn-fields": {
                    "requests_per_second": {
                        "label": "Requests per second",
                        "description": "Throttle for this store's API (no limit is documented; 5 is polite).",
                        "schema": {**_OPTIONAL_NUMBER, "default": 5},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "schema": {**_OPTIONAL_NUMBER, "default": 30},
                    },
                    "user_agent": {
                        "label": "User-Agent",
                        "description": "Sent to the store; empty: cartum-roapp-sync/<version>. Change it when the "
                                       "store's bot filter answers with a JavaScript challenge page.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {"host": "Store URL", "login": "User name", "password": "Password"},
                    "placeholders": {
                        "host": "https://shop.example.com",
                        "login": "the administrator's user name (Settings → Administrators), not an e-mail",
                    },
                },
            },
            {
                "connection-type": "roapp",
                "hook-class-name": "cartum_roapp_sync.roapp.hook.RoAppHook",
                "hook-name": "RO App (Remonline)",
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "schema": {**_OPTIONAL_NUMBER, "default": 30},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {"host": "API base URL", "password": "API key"},
                    "placeholders": {
                        "host": "https://api.roapp.io",
                        "password": "RO App → Settings → API",
                    },
                },
            },
        ],
    }
