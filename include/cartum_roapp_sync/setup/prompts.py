"""Asking a person at a terminal: questions with defaults, hidden passwords, yes/no.

The input functions are injected so that tests can answer the questions; the command
line tool passes ``input`` and ``getpass``. Only ever used when stdin is a terminal.
"""

from __future__ import annotations

import getpass
import sys
from typing import Callable, TextIO


class Stopped(Exception):
    """The person ended the input (Ctrl+D or Ctrl+C): nothing is saved."""


class Prompter:
    def __init__(self, input_fn: Callable[[str], str] = input,
                 secret_fn: Callable[[str], str] = getpass.getpass, out: TextIO | None = None):
        self._input = input_fn
        self._secret = secret_fn
        self.out = out or sys.stdout

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def _read(self, read: Callable[[str], str], prompt: str) -> str:
        try:
            return read(prompt)
        except (EOFError, KeyboardInterrupt):
            self.say()
            raise Stopped() from None

    def ask(self, label: str, default: str | None = None, *, required: bool = True) -> str:
        """One line of text; Enter takes ``default``. Asks again while a required answer is empty."""
        suffix = f" [{default}]" if default not in (None, "") else ""
        while True:
            answer = self._read(self._input, f"{label}{suffix}: ").strip()
            if answer:
                return answer
            if default not in (None, ""):
                return str(default)
            if not required:
                return ""
            self.say("  (an answer is required)")

    def secret(self, label: str, *, required: bool = True) -> str:
        """A password, not echoed. Empty only when not ``required``."""
        while True:
            answer = self._read(self._secret, f"{label}: ")
            if answer or not required:
                return answer
            self.say("  (an answer is required)")

    def confirm(self, label: str, default: bool = False) -> bool:
        hint = "[Y/n]" if default else "[y/N]"
        while True:
            answer = self._read(self._input, f"{label} {hint}: ").strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.say("  (answer y or n)")
