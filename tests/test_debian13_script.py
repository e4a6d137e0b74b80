"""scripts/debian13.sh (make test-debian13) refuses a root it could harm, before touching it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "debian13.sh"


def run_script(root: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "EMPYCUSTOM_DEBIAN13_ROOT": root}
    return subprocess.run(
        ["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="the script asks sudo when not run as root")
@pytest.mark.parametrize("root", ["/", str(REPO), str(REPO / "build" / "debian13")])
def test_a_root_inside_the_working_tree_or_the_host_root_is_refused(root: str) -> None:
    completed = run_script(root)
    assert completed.returncode == 1
    assert "must lie outside the working tree" in completed.stderr
    assert not (REPO / "build" / "debian13").exists()
    assert not (REPO.parent / f"{REPO.name}.lock").exists()


def test_the_makefile_and_ci_run_it() -> None:
    assert "test-debian13:" in (REPO / "Makefile").read_text()
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert ci.index("make test") < ci.index("make test-debian13")
