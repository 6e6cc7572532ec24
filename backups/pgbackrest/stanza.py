"""`stanza-create`: a stanza's info files in every repository; safe to repeat (pgBackRest
does nothing when they exist and match the cluster)."""

from __future__ import annotations


def build_stanza_create() -> list[str]:
    return ["stanza-create"]
