"""The RO App (Remonline) API sandbox: ``RoAppSandbox`` served by ``SandboxServer``.

Run it with ``python -m cartum_roapp_sandbox.roapp --port 8702``.
"""

from .app import DEFAULT_API_KEY, RoAppSandbox
from .seed import RoAppSeedConfig, generate

__all__ = ["DEFAULT_API_KEY", "RoAppSandbox", "RoAppSeedConfig", "generate"]
