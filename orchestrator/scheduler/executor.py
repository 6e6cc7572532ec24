"""The executor every scheduled job goes through: it hands the job its daemon's
environment and runs it only under the job's lease (see `exclusive`).

APScheduler 3 calls a job as `func(*args, **kwargs)` with nothing about which fire time
it is running; the lease needs that time to refuse a second run of the same fire time
by another daemon, so the executor wraps each submitted job with `run_times[-1]` (with
coalescing on, the only one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job

from orchestrator.scheduler.exclusive import LeaseStore
from orchestrator.scheduler.jobs import JobEnvironment


class LeasedExecutor(ThreadPoolExecutor):
    def __init__(self, env: JobEnvironment, leases: LeaseStore, max_workers: int = 4) -> None:
        super().__init__(max_workers)
        self._env = env
        self._leases = leases

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        leased = _LeasedRun(job, run_times[-1], self._env, self._leases)
        super()._do_submit_job(leased, run_times)


class _LeasedRun:
    """Looks like the Job to APScheduler's run_job; its `func` takes the lease first."""

    def __init__(
        self, job: Job, fire_time: datetime, env: JobEnvironment, leases: LeaseStore
    ) -> None:
        self._job = job
        self._fire_time = fire_time
        self._env = env
        self._leases = leases

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)

    def func(self, *args: Any, **kwargs: Any) -> Any:
        with self._leases.hold(self._job.id, self._fire_time) as held:
            if not held:
                return None
            return self._job.func(*args, env=self._env, **kwargs)
