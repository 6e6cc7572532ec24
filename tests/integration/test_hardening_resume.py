"""The run lease on a PostgreSQL journal (issue 17, item 4): two `dr resume` of one run
at once, one refused with who holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_hardening_resume import two_resumes_at_once

pytestmark = pytest.mark.integration


def test_two_resumes_of_one_run_at_once_on_postgresql(postgres_db_url: str, tmp_path: Path) -> None:
    two_resumes_at_once(postgres_db_url, tmp_path)
