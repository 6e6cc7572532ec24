"""The two consoles: stdout carries results (and --json), stderr carries messages.

Both show control characters from the data as escapes (`\\x1b`), never raw: an
inventory value or a journaled message holding ESC sequences could otherwise clear the
screen, retitle the terminal or hide lines, and right-to-left marks could make a
command read differently from what it is. Rich's own styling is added after rendering
and is not affected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment

# C0 and C1 controls (but newline and tab), DEL, and the bidirectional overrides,
# embeddings and isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\u202e`)."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class SafeConsole(Console):
    """A rich Console that escapes control characters in what it prints."""

    def render(self, renderable: Any, options: Any = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control or not _UNSAFE.search(segment.text):
                yield segment
            else:
                yield Segment(printable(segment.text), segment.style, segment.control)


# emoji=False: rich would print "FILE:100: field" as "FILE💯 field" (its :100: emoji code),
# and a name such as :fire: in the data as a picture.
console = SafeConsole(highlight=False, emoji=False)
# soft_wrap: an error line such as FILE:LINE: field: message must stay one line when piped.
error_console = SafeConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def print_json(console: Console, document: Any) -> None:
    # Plain print: rich would wrap long lines and break the JSON for a program reading it.
    console.file.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    console.file.flush()
