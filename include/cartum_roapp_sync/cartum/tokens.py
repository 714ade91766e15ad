"""A Cartum session token kept between a run's tasks, so a run logs in once instead of once
per task (the token lives ``client.TOKEN_TTL``, 600 s: about every second 5-minute run
logs in).

The token is a secret. It is kept in the state database (``state.cache``, kind
``cartum_token``) only encrypted (Fernet: AES-128-CBC with an HMAC-SHA256), with a key
derived from the Cartum connection's password, login and store address (scrypt, with a
random salt kept beside the ciphertext). So:

- the state database alone never gives a usable token: whoever reads it needs the
  connection's password too;
- a changed password (or login, or address) derives another key: the kept token does
  not decrypt, it is not used, and the run logs in with the new password (a password
  changed in Cartum but not yet in the connection: the kept token works until it
  expires, then the login fails as before);
- scrypt is slow on purpose (about 35 ms, once per task process): the ciphertext's HMAC
  could be used to test guessed passwords, and each guess costs that much.

A token expires at its ``expires_at`` (``TOKEN_TTL`` less the renewal margin after the
login); one Cartum rejects (expired early, logged out, another login) is dropped and the
client logs in again once (``CartumClient.call``). The token is never logged, never in an
error, never in XCom; the row's ``account`` is a hash of the address and login.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from ..ratelimit import bucket_name
from ..state.cache import ApiCache

log = logging.getLogger(__name__)

KIND = "cartum_token"
FORMAT = "v1"
#: scrypt's cost: n = 2^14, r = 8 (16 MiB, about 35 ms here), the interactive-login setting.
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}
SALT_BYTES = 16


class TokenCache:
    """The kept token of one Cartum store address and login."""

    def __init__(self, engine: Engine, base_url: str, login: str, password: str, **cache_options: Any):
        self.cache = ApiCache(engine, bucket_name("cartum", f"{base_url} {login}"), **cache_options)
        self._material = "\0".join((password, login, base_url)).encode("utf-8")
        self._key: tuple[bytes, bytes] | None = None   # (salt, Fernet key) derived in this process

    def __repr__(self) -> str:
        return f"TokenCache(account={self.cache.account!r})"

    def _fernet(self, salt: bytes | None = None):  # type: ignore[no-untyped-def]
        from cryptography.fernet import Fernet

        if self._key is None or (salt is not None and salt != self._key[0]):
            salt = salt if salt is not None else os.urandom(SALT_BYTES)
            self._key = (salt, base64.urlsafe_b64encode(hashlib.scrypt(self._material, salt=salt, **SCRYPT)))
        return self._key[0], Fernet(self._key[1])

    def load(self) -> tuple[str, float] | None:
        """``(token, seconds it still lives)``, or None: none kept, expired, or not ours to
        decrypt (another password)."""
        from cryptography.fernet import InvalidToken

        cached = self.cache.get(KIND)
        if cached is None:
            return None
        try:
            version, salt, ciphertext = cached.value.split(":", 2)
            if version != FORMAT:
                return None
            _, fernet = self._fernet(base64.urlsafe_b64decode(salt))
            payload = json.loads(fernet.decrypt(ciphertext.encode("ascii")))
            token = str(payload["token"])
        except (ValueError, KeyError, TypeError, InvalidToken):
            log.info("Cartum: the kept session token is not usable with the connection's current credentials "
                     "(changed since it was kept): logging in")
            return None
        left = (cached.expires_at - self.cache.clock()).total_seconds()
        return (token, left) if left > 0 else None

    def save(self, token: str, lifetime: float) -> None:
        """Keep ``token`` for ``lifetime`` seconds, encrypted."""
        salt, fernet = self._fernet()
        ciphertext = fernet.encrypt(json.dumps({"token": token}).encode("utf-8")).decode("ascii")
        value = f"{FORMAT}:{base64.urlsafe_b64encode(salt).decode('ascii')}:{ciphertext}"
        self.cache.put(KIND, value, timedelta(seconds=lifetime))

    def drop(self) -> None:
        self.cache.drop([KIND])
