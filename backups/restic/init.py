"""`restic init`, and `cat config` to ask whether a repository exists.

0.14's `init --json` still prints text, so success is read from the exit code.
"""

from __future__ import annotations


def build_init(*, copy_chunker_params: bool = False) -> list[str]:
    # For a copy target: the same chunker parameters as the source keep copies
    # deduplicated (restic's documented advice for `copy`).
    return ["init", "--copy-chunker-params"] if copy_chunker_params else ["init"]


def build_cat_config() -> list[str]:
    return ["cat", "config", "--no-lock"]
