"""A duty operator on `--lang zh` reads `dr drill` in Chinese from the first line to the
last (issue 19 item 3): the live view, the step results, the RTO clock, and on a failure
the step that failed and the `dr resume` that goes on. The shipped example runbook over
a real sshd on loopback, as `make drill-local` runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab import local_target
from orchestrator.errors import EXIT_FAILED
from orchestrator.local_machine import find_free_port

pytestmark = pytest.mark.integration

# English the engine or these runbooks used to print in a Chinese run.
ENGLISH_LEFT_OVER = (
    "succeeded",
    " hosts",
    "auto-confirmed",
    "clock from",
    "marker",
    "[probe: http]",
    "service answers",
    "service down",
    "fix the cause",
    "retries it",
    "newest message at",
)


@pytest.fixture
def target(tmp_path: Path):
    inventory = local_target.up(tmp_path / "target")
    yield inventory
    local_target.down(tmp_path / "target")


def _drill_zh(
    inventory: Path, tmp_path: Path, service_dir: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3",
        "DR_LANG": "en",  # --lang decides, not the environment
        "COLUMNS": "200",
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.cli.main",
            "drill",
            "report-service-restart",
            "-i",
            str(inventory),
            "--auto-confirm",
            "--lang",
            "zh",
            "-p",
            f"service_dir={service_dir}",
            "-p",
            f"message_dir={tmp_path}/target/service/messages",
            "-p",
            f"port={find_free_port()}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _leftover_english(text: str) -> list[str]:
    return [words for words in ENGLISH_LEFT_OVER if words in text]


def test_a_drill_that_succeeds_reads_in_chinese_to_its_last_line(target, tmp_path):
    result = _drill_zh(target, tmp_path, f"{tmp_path}/target/service")
    assert result.returncode == 0, result.stderr
    both = result.stdout + result.stderr
    assert _leftover_english(both) == [], both
    # The live view: each host's verdict and the count of hosts done.
    assert "credit-app-1 [探测：http] 服务有应答" in result.stderr
    assert "service-answers 成功 1/1 台主机" in result.stderr
    assert "notify-branches 成功 已自动确认（演练）" in result.stderr
    # The end-of-run table: kinds and results in words.
    assert re.search(r"service-answers\s*│\s*等待\s*│\s*成功", result.stdout), result.stdout
    assert "检查次数" in result.stdout and "最新报文时间" in result.stdout
    # The RTO clock, from the runbook's markers, said as a Chinese reader names them.
    assert "计时从 预案的“业务中断”标记 到 预案的“业务恢复”标记" in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("全部步骤成功  运行编号: ")


def test_a_drill_that_fails_says_which_step_and_dr_resume_in_chinese(target, tmp_path):
    # A service directory that cannot be made: start-service fails on the host, for real.
    result = _drill_zh(target, tmp_path, "/proc/dr-cannot-make-this")
    assert result.returncode == EXIT_FAILED, result.stderr
    run_id = re.search(r"运行 (\d{8}-\d{6}-[0-9a-f]{6})", result.stderr)
    assert run_id is not None, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"步骤 start-service 失败；排除故障原因后执行 `dr resume {run_id[1]}`，从该步骤重新执行"
    ), last
    assert "start-service 失败 0/1 台主机" in result.stderr
    # Why, on the host's line: our words in Chinese, the shell's own quoted as it said them.
    assert "在 credit-app-1 上执行失败，退出码 1：mkdir: cannot create directory" in result.stderr
    # The run's record printed at its end says the same, and the step's kind in Chinese.
    assert "步骤 start-service 失败；排除故障原因后执行" in result.stdout
    assert re.search(r"start-service\s*│\s*操作\s*│\s*已回滚", result.stdout), result.stdout
    # Nothing of ours in English in the record or the last line.
    assert _leftover_english(result.stdout + last) == [], result.stdout
