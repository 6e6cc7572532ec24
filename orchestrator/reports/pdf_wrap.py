"""Line breaking and column widths for the PDF: Latin text breaks between words, Chinese
between characters.

reportlab offers one or the other per paragraph: its default breaks only at spaces (a
Chinese sentence never wraps), its "CJK" mode at any character (English words are cut
in two: "achie-ved"). Our reports mix both in one cell ("报文服务无响应 / report service
down"), so the lines are broken here, with the font's own widths, and reportlab is given
them whole. A single word wider than its column is the one thing still cut.
"""

from __future__ import annotations

import re
import unicodedata

from reportlab.pdfbase.pdfmetrics import stringWidth

# Punctuation that must not start a line (it hangs on the one before) or end one.
_NO_LINE_START = set("，。、；：？！）》」』】〕…%,.;:?!)]}'\"”’")
_NO_LINE_END = set("（《「『【〔([{“‘")


def _is_wide(char: str) -> bool:
    """A character that may be broken before or after: Chinese, Japanese, Korean, and
    the full-width forms used with them."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def units(text: str) -> list[str]:
    """The pieces a line may break between: each wide character, each run of other
    non-space characters (a word, a number, an id), each run of spaces; punctuation is
    joined to the piece it may not be parted from."""
    pieces = re.findall(r"\s+|[^\s]", text)
    merged: list[str] = []
    for piece in pieces:
        joins_word = (
            merged
            and not piece.isspace()
            and not _is_wide(piece)
            and not merged[-1].isspace()
            and not _is_wide(merged[-1][-1])
        )
        hangs = merged and piece in _NO_LINE_START and not merged[-1].isspace()
        opens = merged and merged[-1][-1] in _NO_LINE_END and not piece.isspace()
        if joins_word or hangs or opens:
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def wrap(text: str, width: float, font: str, size: float) -> list[str]:
    """`text` as lines no wider than `width` points; its own newlines are kept."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(_wrap_paragraph(paragraph, width, font, size))
    return lines


def _wrap_paragraph(text: str, width: float, font: str, size: float) -> list[str]:
    lines: list[str] = []
    line = ""
    for unit in units(text):
        candidate = line + unit
        if stringWidth(candidate.rstrip(), font, size) <= width or not line.strip():
            line = candidate  # spaces always fit: they are dropped at the line's end
        else:
            lines.append(line.rstrip())
            line = unit
        while stringWidth(line.rstrip(), font, size) > width and len(line.strip()) > 1:
            # One word wider than the whole column: cut it, and say so with a hyphen.
            head, line = _cut(line, width, font, size)
            lines.append(head)
    lines.append(line.rstrip())
    return lines


def _cut(word: str, width: float, font: str, size: float) -> tuple[str, str]:
    """The longest head of `word` that fits: after a '-', '/', '_' or '.' of its own where
    one fits (an id, a path), else cut with a hyphen added."""
    for end in range(len(word) - 1, 0, -1):
        if word[end - 1] in "-/_." and stringWidth(word[:end], font, size) <= width:
            return word[:end], word[end:]
    for end in range(len(word) - 1, 0, -1):
        head = word[:end] + ("" if _is_wide(word[end - 1]) else "-")
        if stringWidth(head, font, size) <= width:
            return head, word[end:]
    return word[:1], word[1:]


def column_widths(
    rows: list[list[str]], total: float, font: str, size: float, padding: float
) -> list[float]:
    """Widths that give each column at least its longest word where the page allows, and
    share what is left by how much text each column holds."""
    count = max(len(r) for r in rows)
    shortest = [0.0] * count
    longest = [0.0] * count
    for row in rows:
        for index, cell in enumerate(row):
            for line in cell.split("\n"):
                pieces = [u for u in units(line) if not u.isspace()]
                widest = max((stringWidth(u, font, size) for u in pieces), default=0.0)
                shortest[index] = max(shortest[index], widest + padding)
                longest[index] = max(longest[index], stringWidth(line, font, size) + padding)
    floor = sum(shortest)
    if floor >= total:
        return [total * s / floor for s in shortest] if floor else [total / count] * count
    spare = total - floor
    wants = [max(0.0, big - small) for big, small in zip(longest, shortest, strict=True)]
    wanted = sum(wants)
    if wanted <= spare:
        extra = (spare - wanted) / count
        return [s + w + extra for s, w in zip(shortest, wants, strict=True)]
    return [s + spare * w / wanted for s, w in zip(shortest, wants, strict=True)]
