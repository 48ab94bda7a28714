"""Run a command that starts Ray processes of its own, and leave none of them behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

import pytest

from tests.shared import ROOT


def run_to_end(
    cmd: Sequence[str], *, limit_s: float, what: str, env: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """Run ``cmd`` in a process group of its own until it exits: its status and output
    (stdout and stderr together). Past ``limit_s`` the test fails, naming ``what``.

    Ray's processes stay in the group of the process that started them, so killing the group
    ends them too: at the limit, and afterwards whatever outlived the command (a backstop).
    """
    proc = subprocess.Popen(
        list(cmd),
        cwd=ROOT,
        env=None if env is None else dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        try:
            output, _ = proc.communicate(timeout=limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            pytest.fail(f"{what} still running after {limit_s} s:\n{output[-4000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, output
