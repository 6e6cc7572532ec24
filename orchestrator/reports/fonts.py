"""The CJK font reports use, so Chinese renders as glyphs, not boxes.

WenQuanYi Micro Hei (Debian package fonts-wqy-microhei, installed by
scripts/install-system-packages.sh) is a TrueType collection: matplotlib draws with it
and reportlab embeds it in the PDF, so the PDF reads the same on any viewer.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import ReportError

CJK_FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


def cjk_font_file() -> Path:
    if not CJK_FONT_FILE.exists():
        raise ReportError(
            f"the CJK font {CJK_FONT_FILE} is missing, so Chinese would print as boxes; "
            "install it with scripts/install-system-packages.sh (package fonts-wqy-microhei)"
        )
    return CJK_FONT_FILE
