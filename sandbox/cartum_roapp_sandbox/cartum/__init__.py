"""The Cartum store API sandbox: a seeded, deliberately messy store behind the Cartum API.

Run it with ``python -m cartum_roapp_sandbox.cartum --help``.
"""

from .app import CartumSandbox
from .seed import CartumSeedConfig, generate

__all__ = ["CartumSandbox", "CartumSeedConfig", "generate"]
