"""The journal key: an HMAC-SHA256 key per orchestrator host that the database never holds.

With the key, every event's link carries a MAC over its hash (which already covers every
earlier event), so a person who can write the database but not read this file cannot
edit an event and recompute the chain: the plain SHA-256 chain alone protects only
against accidents. HMAC rather than Ed25519: the verifier is the same host (or a host
given the same file), and a symmetric key needs no new dependency.

Where the key is found (like DR_DB, see location.py): DR_JOURNAL_KEY (a path, or a
reference `file:PATH` / `env:NAME`), else the inventory's `journal.key`, else the
per-user default file $XDG_CONFIG_HOME/dr/journal.key (~/.config/dr/journal.key), kept
apart from the state directory that holds the SQLite journal. `dr journal init-key`
writes it: 32 random bytes as hex, owner-only (0600), never overwritten.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import SecretUnavailable, UserInputError
from orchestrator.inventory.secrets import SecretRef, file_is_private, resolve_secret
from orchestrator.private_files import FILE_MODE, private_directory, sync_directory

ALGORITHM = "hmac-sha256"
UNKEYED = "sha256"
ENV_VAR = "DR_JOURNAL_KEY"
_KEY_BYTES = 32


@dataclass(frozen=True)
class JournalKey:
    """The key's bytes (never printed) and its id, a fingerprint that is safe to show."""

    secret: bytes = field(repr=False)
    source: str

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"dr-journal-key-id\0" + self.secret).hexdigest()[:16]

    def mac(self, text: str) -> str:
        return hmac.new(self.secret, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def verifies(self, text: str, mac: str) -> bool:
        return hmac.compare_digest(self.mac(text), mac)


def default_key_path() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "dr" / "journal.key"


def key_location(inventory_ref: SecretRef | None = None) -> SecretRef:
    """Where the key should be: DR_JOURNAL_KEY, the inventory's, or the default file."""
    value = os.environ.get(ENV_VAR)
    if value:
        if value.startswith(("env:", "file:")):
            try:
                return SecretRef.parse(value)
            except ValueError as err:
                raise UserInputError(f"{ENV_VAR}: {err}") from None
        return SecretRef("file", value)
    if inventory_ref is not None:
        return inventory_ref
    return SecretRef("file", str(default_key_path()))


def load_key(inventory_ref: SecretRef | None = None) -> JournalKey | None:
    """The key if one is configured and present; None when the default file is absent.

    A key that is named (DR_JOURNAL_KEY, the inventory) but cannot be read is an error,
    not a silent fall-back to an unkeyed journal."""
    ref = key_location(inventory_ref)
    named = bool(os.environ.get(ENV_VAR)) or inventory_ref is not None
    if ref.kind == "file" and not ref.path.exists() and not named:
        return None
    if ref.kind == "file" and ref.path.exists() and not file_is_private(ref.path):
        raise SecretUnavailable(
            f"journal key {ref}: the file is readable by group or others; "
            f"chmod 600 {ref.target} (and consider the key exposed: make a new one)"
        )
    text = resolve_secret(ref).strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise SecretUnavailable(
            f"journal key {ref}: not a key written by `dr journal init-key` (64 hex digits)"
        ) from None
    if len(secret) < 16:
        raise SecretUnavailable(f"journal key {ref}: too short (at least 32 hex digits)")
    return JournalKey(secret, str(ref))


def create_key_file(path: Path) -> JournalKey:
    """Write a new key to `path` (0600); refuse if anything is already there."""
    private_directory(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        raise UserInputError(
            f"{path} already exists: a journal key is never overwritten (the journal's MACs "
            "were made with it). Move it away yourself only if you mean to start a new key."
        ) from None
    secret = secrets.token_bytes(_KEY_BYTES)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    sync_directory(path.parent)
    return JournalKey(secret, f"file:{path}")


MISSING_KEY_HINT = (
    "create one with `dr journal init-key` (it writes ~/.config/dr/journal.key, or the path "
    f"in {ENV_VAR}), readable only by the account that runs dr / "
    "请先用 `dr journal init-key` 创建日志密钥（仅运行 dr 的账户可读）"
)
