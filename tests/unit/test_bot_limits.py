"""The chat bots' size limits and mobile numbers (orchestrator/notify/bot_limits.py)."""

from __future__ import annotations

import re

from orchestrator.notify.bot_limits import MAX_PARTS, bare_mobile, split_to_fit


def test_mobiles_are_bare_eleven_digits_and_other_numbers_are_not_mentioned():
    assert bare_mobile("13800000001") == "13800000001"
    assert bare_mobile("+86 138 0000 0001") == "13800000001"
    assert bare_mobile("+86-138-0000-0001") == "13800000001"
    assert bare_mobile("0086 13800000001") == "13800000001"
    assert bare_mobile("(+86) 13800000001") == "13800000001"
    assert bare_mobile("0571-8888 0000") is None  # a landline: no bot can mention it
    assert bare_mobile("+44 7700 900123") is None
    assert bare_mobile(None) is None and bare_mobile("") is None


def _bytes_fit(limit: int):
    return lambda part: len(part.encode()) <= limit


def test_a_text_that_fits_is_sent_whole_and_unmarked():
    assert split_to_fit("短消息 / short", _bytes_fit(2048), "CUT") == ["短消息 / short"]


def test_a_long_text_is_split_between_lines_into_numbered_parts_that_fit():
    lines = [
        f"第{n}行：分行网点线路中断，请按预案切换 / line {n}: branch link down" for n in range(60)
    ]
    text = "\n".join(lines)
    parts = split_to_fit(text, _bytes_fit(2048), "CUT")
    assert 1 < len(parts) <= MAX_PARTS
    assert all(len(p.encode()) <= 2048 for p in parts)
    assert [re.match(r"\((\d)/(\d)\) ", p).groups() for p in parts] == [
        (str(i), str(len(parts))) for i in range(1, len(parts) + 1)
    ]
    # Nothing lost, nothing cut inside a line: the parts' lines are the text's lines.
    rejoined = "\n".join(re.sub(r"^\(\d/\d\) ", "", p) for p in parts)
    assert rejoined == text


def test_one_line_longer_than_the_limit_is_cut_inside_it():
    text = "报" * 2000  # 6000 bytes of UTF-8 on one line
    parts = split_to_fit(text, _bytes_fit(2048), "CUT")
    assert len(parts) == 3 and all(len(p.encode()) <= 2048 for p in parts)
    assert "".join(re.sub(r"^\(\d/\d\) ", "", p) for p in parts) == text


def test_beyond_the_most_parts_the_rest_is_cut_and_the_last_part_says_so():
    text = "\n".join("x" * 1000 for _ in range(40))
    parts = split_to_fit(text, _bytes_fit(2048), " [CUT: see the e-mail]")
    assert len(parts) == MAX_PARTS and all(len(p.encode()) <= 2048 for p in parts)
    assert parts[-1].endswith(" [CUT: see the e-mail]")
    assert not any("CUT" in p for p in parts[:-1])
