"""Keeps Cartum online stores in sync with RO App: clients, hooks, transforms and state."""

__version__ = "0.1.0"
