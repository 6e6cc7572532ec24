"""Masking secrets out of what is logged, journaled or shown.

Masking works on values, before anything is serialised: a secret holding a quote, a
backslash or non-ASCII text looks different once written as JSON (`\\"`, `\\u4e2d`),
so masking JSON text misses it, and masking a secret such as `true` in JSON text would
break the document itself. `Masker.data` walks a structure and masks each string.

Every secret the process resolves (`orchestrator.inventory.secrets.resolve_secret`) is
also remembered here, so that a runbook's journaled command output is masked with every
secret the run has read, whoever read it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

MASK = "***"
# Very short values would mask ordinary words; no real password is that short.
MIN_SECRET_LENGTH = 4

_known: set[str] = set()
_known_lock = threading.Lock()


class Masker:
    """Replaces every known secret value with ***."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        if len(secret) >= MIN_SECRET_LENGTH:
            self._secrets.add(secret)
            # A secret read from a file often ends in a newline the program strips.
            stripped = secret.strip()
            if len(stripped) >= MIN_SECRET_LENGTH:
                self._secrets.add(stripped)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def data(self, value: Any) -> Any:
        """`value` as plain JSON data (what json.dumps(default=str) would keep), every
        string in it (keys too) masked."""
        plain = json.loads(json.dumps(value, default=str))
        return self._walk(plain)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        if isinstance(value, dict):
            return {self(str(k)): self._walk(v) for k, v in value.items()}
        return value


def remember_secret(value: str) -> None:
    """Note a secret this process has read (see `known_secrets`)."""
    with _known_lock:
        _known.add(value)


def known_secrets(extra: Iterable[str] = ()) -> Masker:
    """A Masker of every secret this process has read, and `extra`."""
    with _known_lock:
        values = list(_known)
    return Masker([*values, *extra])
