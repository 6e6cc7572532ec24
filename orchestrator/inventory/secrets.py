"""Secret references: an inventory names where a secret lives, never the secret itself.

Inventories are committed to git, printed by `dr inventory show` and hashed into the journal,
so a password written in one would leak everywhere. A secret field therefore holds
`env:NAME` (an environment variable) or `file:PATH` (a file, relative paths taken from the
inventory's directory), and the value is read only at the moment it is used.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from orchestrator.errors import SecretUnavailable
from orchestrator.inventory.paths import anchor_path
from orchestrator.masking import remember_secret

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

NOT_A_REFERENCE = "a secret must be a reference (env:NAME or file:PATH), not the secret itself"


class SecretRef:
    """Where a secret lives. str() and repr() give the reference text, which is safe to log."""

    __slots__ = ("kind", "target")

    def __init__(self, kind: Literal["env", "file"], target: str) -> None:
        self.kind = kind
        self.target = target

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        """Parse "env:NAME" or "file:PATH"; raise ValueError (never echoing `text`) otherwise."""
        kind, sep, target = text.partition(":")
        if sep and kind == "env":
            if not _ENV_NAME.match(target):
                raise ValueError(
                    "env: must be followed by an environment variable name "
                    "(letters, digits and _, not starting with a digit), e.g. env:PG_PASSWORD"
                )
            return cls("env", target)
        if sep and kind == "file":
            if not target.strip():
                raise ValueError("file: must be followed by a path, e.g. file:secrets/pg.pass")
            return cls("file", target)
        # Deliberately no detail about the text: it may be a real password.
        raise ValueError(NOT_A_REFERENCE)

    @property
    def path(self) -> Path:
        """The file of a file: reference (ValueError for env: references)."""
        if self.kind != "file":
            raise ValueError(f"{self} is not a file reference")
        return Path(self.target)

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"

    def __repr__(self) -> str:
        return f"SecretRef({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretRef):
            return NotImplemented
        return (self.kind, self.target) == (other.kind, other.target)

    def __hash__(self) -> int:
        return hash((self.kind, self.target))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.with_info_plain_validator_function(
            _validate_reference,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$"}


def _validate_reference(value: Any, info: ValidationInfo) -> SecretRef:
    # Every failure becomes one custom error whose text we wrote; pydantic's own messages
    # (e.g. "Input should be a valid string") are never produced for a secret field.
    if isinstance(value, SecretRef):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("secret_reference", NOT_A_REFERENCE)
    try:
        ref = SecretRef.parse(value)
    except ValueError as err:
        raise PydanticCustomError("secret_reference", str(err)) from None
    if ref.kind == "file":
        return SecretRef("file", str(anchor_path(Path(ref.target), info)))
    return ref


def resolve_secret(ref: SecretRef) -> str:
    """Read the secret now. Raises SecretUnavailable with what to do if it cannot be read."""
    if ref.kind == "env":
        value = os.environ.get(ref.target)
        if value is None:
            raise SecretUnavailable(
                f"secret {ref} is not set in the environment; "
                f"export {ref.target}=... before running"
            )
        if value == "":
            raise SecretUnavailable(
                f"secret {ref} is set but empty; export {ref.target}=... before running"
            )
    else:
        value = _read_secret_file(ref)
    remember_secret(value)
    return value


def _read_secret_file(ref: SecretRef) -> str:
    try:
        text = ref.path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretUnavailable(
            f"secret {ref}: the file does not exist; create it (chmod 600) or fix the reference"
        ) from None
    except IsADirectoryError:
        raise SecretUnavailable(f"secret {ref}: is a directory, not a file") from None
    except PermissionError:
        raise SecretUnavailable(
            f"secret {ref}: permission denied; run as the file's owner or fix its permissions"
        ) from None
    except UnicodeDecodeError:
        raise SecretUnavailable(f"secret {ref}: the file is not UTF-8 text") from None
    except OSError as err:
        raise SecretUnavailable(f"secret {ref}: cannot be read ({err.strerror})") from None
    # Editors add a final newline; it is never part of the password. Only one is removed
    # so that a secret which really ends in whitespace survives.
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if text == "":
        raise SecretUnavailable(f"secret {ref}: the file is empty")
    return text


def file_is_private(path: Path) -> bool:
    """True if only the owner may use the file (no group/other permission bits, like ssh wants).

    Raises OSError (e.g. FileNotFoundError) if the file cannot be examined.
    """
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def secret_warning(ref: SecretRef) -> str | None:
    """Why `ref` would not resolve safely on this machine right now, or None if it would.

    For pre-flight checks: the secret itself is never read, so nothing can leak.
    """
    if ref.kind == "env":
        if not os.environ.get(ref.target):
            return f"{ref} is not set in this environment; export {ref.target}=... before a run"
        return None
    try:
        private = file_is_private(ref.path)
    except FileNotFoundError:
        return f"{ref}: the file does not exist"
    except OSError as err:
        return f"{ref}: cannot be examined ({err.strerror})"
    if not private:
        return f"{ref}: the file is readable by group or others; chmod 600 {ref.target}"
    return None
