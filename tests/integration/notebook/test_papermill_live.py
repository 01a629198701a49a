"""The live template under papermill, watched from outside the kernel (kernel pid, heartbeat)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nb_helpers import gone, kill_all, wait_for_running

from aifap.core.errors import ConfigError
from aifap.deploy.papermill_run import (
    TEMPLATE,
    live_run_via_papermill,
    read_runner_state,
    run_live_notebook,
)

ROOT = Path(__file__).resolve().parents[3]


def test_template_has_a_parameters_cell_and_the_python3_kernel():
    nb = nbformat.read(TEMPLATE, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert "config_path" in tagged[0].source
    assert "duration" in tagged[0].source
    assert nb.metadata.kernelspec.name == "python3"
    assert all(c.get("outputs", []) == [] for c in nb.cells if c.cell_type == "code")


def test_an_invalid_config_is_refused_before_papermill_starts(write_config, tmp_path):
    path = write_config(allocation=-5)
    with pytest.raises(ConfigError, match="allocation"):
        run_live_notebook(path, echo=None)
    assert not (tmp_path / "wd" / "papermill.log").exists()


@pytest.mark.slow
def test_the_template_runs_a_session_and_shows_its_summary(write_config, tmp_path, capsys):
    path = write_config()
    assert live_run_via_papermill(path, echo=sys.stdout) == 0
    out = capsys.readouterr()
    assert "trading duration 2h ended" in out.out  # the session log, echoed to stdout
    workdir = tmp_path / "wd"
    state = json.loads((workdir / "runner.json").read_text())
    assert state["status"] == "stopped"
    assert state["exit_code"] == 0
    nb = nbformat.read(workdir / "session.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps([o.get("data", {}) for o in outputs])
    assert "cycles done" in text
    assert "max drawdown" in text
    run_cell = next(c for c in nb.cells if "run_session(" in c.source)
    assert len(json.dumps(run_cell.outputs)) < 500  # the log stays out of the notebook
    assert (workdir / "session.log").stat().st_size > 1000


def _start_runner(path: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "aifap.deploy.papermill_run", str(path), "--quiet",
               "--duration", "720h", *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _runner_status(workdir: Path, wanted: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_runner_state(workdir) or {}
        if state.get("status") == wanted:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_sigkill_of_the_kernel_ends_the_run_non_zero(write_config, tmp_path):
    path = write_config(clock={"kind": "replay", "start": "2024-06-20T00:00:00Z", "speed": 60})
    # through the CLI: `aifap live run` wraps papermill and watches the kernel
    runner = subprocess.Popen(
        [sys.executable, "-c", "from aifap.cli import main; main()", "live", "run", str(path),
         "--heartbeat-timeout", "20"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    beat = wait_for_running(tmp_path / "wd")
    children = [int(p) for p in beat["pids"].values()]
    try:
        os.kill(beat["pid"], signal.SIGKILL)  # the kernel runs the session's parent
        _, err = runner.communicate(timeout=120)
        assert runner.returncode != 0
        assert f"kernel process {beat['pid']} died" in err
        assert gone(children), "the session's processes outlived their kernel"
    finally:
        kill_all([runner.pid, *children])
    state = json.loads((tmp_path / "wd" / "runner.json").read_text())
    assert state["status"] == "failed"
    assert state["exit_code"] == 1


@pytest.mark.slow
def test_a_stale_heartbeat_ends_the_run_non_zero(write_config, tmp_path):
    path = write_config(clock={"kind": "replay", "start": "2024-06-20T00:00:00Z", "speed": 60})
    runner = _start_runner(path, "--heartbeat-timeout", "3")
    beat = wait_for_running(tmp_path / "wd")
    children = [int(p) for p in beat["pids"].values()]
    try:
        os.kill(beat["pid"], signal.SIGSTOP)  # a hung session: alive, but silent
        _, err = runner.communicate(timeout=120)
        assert runner.returncode != 0
        assert "heartbeat" in err
        assert "old" in err
        assert gone([beat["pid"], *children])
    finally:
        kill_all([runner.pid, beat["pid"], *children])


@pytest.mark.slow
def test_sigterm_to_the_runner_stops_the_session_cleanly(write_config, tmp_path):
    path = write_config(clock={"kind": "replay", "start": "2024-06-20T00:00:00Z", "speed": 60})
    runner = _start_runner(path)
    beat = wait_for_running(tmp_path / "wd")
    try:
        assert _runner_status(tmp_path / "wd", "running")  # the runner saw the session run
        runner.send_signal(signal.SIGTERM)
        _, err = runner.communicate(timeout=120)
        assert runner.returncode == 0, err
        assert "stopped by signal SIGTERM" in err
    finally:
        kill_all([runner.pid, beat["pid"], *[int(p) for p in beat["pids"].values()]])
