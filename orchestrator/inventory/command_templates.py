"""Shell command templates: the inventory's pair control and fencing commands, and the
runbooks' shutdown and probe commands, with placeholders such as `{host}`, `{upstream}`
or `{url}` that a runbook fills in.

A placeholder stands for one shell word. `fill` puts each value in shell-quoted
(`shlex.quote`) and in one pass, so no value, however it is spelt, becomes shell syntax
or another placeholder. That holds only where the placeholder stands outside quotes: in
`'{host}'` the quoting would be undone by the template's own quotes, and in
`sh -c '... {host}'` the value would be read by a second shell. So a template may not
put a placeholder inside quotes (`quoted_placeholders` finds those; the inventory check
and `fill` refuse them); a command that needs a value inside a script passes it as an
argument (`sh -c '... "$1"' sh {host}`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection

from orchestrator.errors import UserInputError

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def fill(template: str, **values: object) -> str:
    """`template` with each `{name}` of `values` replaced by its value, shell-quoted;
    other braces are left as they are. Refuses a placeholder written inside quotes."""
    inside = quoted_placeholders(template, values)
    if inside:
        raise UserInputError(quoted_message(inside, template))

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return shlex.quote(str(values[name])) if name in values else match.group(0)

    return PLACEHOLDER.sub(replace, template)


def quoted_placeholders(template: str, names: Collection[str]) -> list[str]:
    """The placeholders among `names` that `template` writes inside '...' or "...",
    following the shell's quoting rules (a backslash escapes outside single quotes)."""
    found: list[str] = []
    quote = ""
    index = 0
    while index < len(template):
        char = template[index]
        if char == "\\" and quote != "'":
            index += 2
            continue
        if quote and char == quote:
            quote = ""
        elif not quote and char in "'\"":
            quote = char
        elif quote and char == "{":
            match = PLACEHOLDER.match(template, index)
            if match is not None and match.group(1) in names:
                found.append(match.group(0))
        index += 1
    return list(dict.fromkeys(found))


def quoted_message(placeholders: list[str], template: str) -> str:
    shown = " ".join(placeholders)
    return (
        f"{shown} is written inside quotes in `{template}`; write each placeholder as a "
        "word of its own, outside quotes: dr quotes the value itself (in a script, pass "
        "it as an argument: sh -c '... \"$1\"' sh {host})"
    )
