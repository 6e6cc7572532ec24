"""Where the scheduler writes dr.prom by default: Debian's node_exporter directory when
its account may write there (ansible/ makes it group `dr`, 01775), else a directory of
its own. Checked as an unprivileged account (setpriv), since root may write anywhere."""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from orchestrator.scheduler.monitoring import SYSTEM_TEXTFILE_DIR

ROOT = Path(__file__).parent.parent.parent

UNPRIVILEGED = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="setpriv to another account needs root")


def _default_as_nobody(system_dir: Path, state: Path) -> str:
    code = (
        "from pathlib import Path; import orchestrator.scheduler.monitoring as m; "
        f"m.SYSTEM_TEXTFILE_DIR = Path({str(system_dir)!r}); print(m.default_textfile_dir())"
    )
    done = subprocess.run(
        [*UNPRIVILEGED, sys.executable, "-c", code],
        env={**os.environ, "XDG_STATE_HOME": str(state)},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory `nobody` can reach (pytest's own are root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="dr-textfile-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_the_deployment_the_example_and_the_default_name_one_directory():
    example = yaml.safe_load((ROOT / "inventory" / "example-production.yaml").read_text())
    assert Path(example["scheduler"]["textfile_dir"]) == SYSTEM_TEXTFILE_DIR
    defaults = (ROOT / "ansible" / "roles" / "scheduler_host" / "defaults" / "main.yml").read_text()
    assert Path(yaml.safe_load(defaults)["dr_textfile_dir"]) == SYSTEM_TEXTFILE_DIR
    unit = (ROOT / "ansible" / "files" / "dr-scheduler.service").read_text()
    assert f"ReadWritePaths=-{SYSTEM_TEXTFILE_DIR}\n" in unit


def test_an_account_the_directory_lets_write_uses_it(open_dir):
    shared = open_dir / "node-exporter"
    shared.mkdir()
    os.chown(shared, 0, grp.getgrnam("nogroup").gr_gid)
    shared.chmod(0o1775)
    assert _default_as_nobody(shared, open_dir / "state") == str(shared)


def test_an_account_that_may_not_write_there_gets_its_own_directory(open_dir):
    root_only = open_dir / "node-exporter"
    root_only.mkdir(mode=0o755)
    assert _default_as_nobody(root_only, open_dir / "state") == str(
        open_dir / "state" / "dr" / "textfile"
    )
