"""The statements of the write path, as driver SQL.

Every step writes two events; going through SQLAlchemy's statement compilation for each
cost more than the database work (bench/engine_overhead.py). These few statements are
written once per dialect and handed straight to the driver. Both SQLite (≥ 3.24) and
PostgreSQL understand the same upsert.
"""

from __future__ import annotations

import re

_EVENT_COLUMNS = (
    "seq",
    "run_id",
    "at",
    "kind",
    "step_id",
    "host",
    "actor",
    "data",
    "prev_hash",
    "hash",
    "mac",
)


class HotSql:
    def __init__(self, dialect: str, paramstyle: str) -> None:
        self._pyformat = paramstyle in ("pyformat", "format")
        lock = "" if dialect == "sqlite" else " FOR UPDATE"
        self.select_head = f"SELECT seq, hash FROM chain_head WHERE id = 1{lock}"
        self.insert_event = self._bind(
            f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) "
            f"VALUES ({', '.join(':' + c for c in _EVENT_COLUMNS)})"
        )
        self.update_head = self._bind("UPDATE chain_head SET seq = :seq, hash = :hash WHERE id = 1")
        self.step_started = self._bind(
            "INSERT INTO steps (run_id, step_id, host, kind, status, attempts, started_at) "
            "VALUES (:run_id, :step_id, :host, :kind, 'running', :attempts, :at) "
            "ON CONFLICT (run_id, step_id, host) DO UPDATE SET status = 'running', "
            "attempts = excluded.attempts, started_at = excluded.started_at, "
            "finished_at = NULL, error = NULL"
        )
        self.step_finished = self._bind(
            "INSERT INTO steps (run_id, step_id, host, kind, status, attempts, finished_at, "
            "result, error) VALUES (:run_id, :step_id, :host, :kind, :status, 0, :at, "
            ":result, :error) "
            "ON CONFLICT (run_id, step_id, host) DO UPDATE SET status = excluded.status, "
            "finished_at = excluded.finished_at, result = excluded.result, "
            "error = excluded.error"
        )

    def _bind(self, sql: str) -> str:
        """`:name` for sqlite3, `%(name)s` for psycopg2."""
        return re.sub(r":(\w+)", r"%(\1)s", sql) if self._pyformat else sql
