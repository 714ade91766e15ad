"""Keeps Cartum online stores in sync with RO App: clients, hooks, transforms, state and sandboxes."""

__version__ = "0.1.0"
