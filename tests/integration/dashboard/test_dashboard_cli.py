"""`aifap dashboard SESSION --no-browser --port P` and `--all`: a URL serving the dashboard."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from dash_helpers import REPO

from aifap.deploy.dashboard import RECORD_NAME, dashboard_url, free_port, running_dashboard
from aifap.deploy.local import LocalSessionHandle

pytestmark = pytest.mark.slow


class Cli:
    """``aifap dashboard ...`` in the foreground, its stdout read line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from aifap.cli import main; main()", "dashboard", *args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def url(self, timeout: float = 180.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                assert self.proc.poll() is None, "".join(self.seen)
                continue
            self.seen.append(line)
            found = re.search(r"(http://\S+)", line)
            if found:
                return found.group(1)
        raise AssertionError("no URL printed:\n" + "".join(self.seen))

    def wait(self, timeout: float = 60.0) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        finally:
            self.reader.join(10)
            self.proc.stdout.close()
        return code

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait()


def _served(url: str) -> str:
    response = httpx.get(url, timeout=180.0, trust_env=False)
    assert response.status_code == 200
    page = response.text
    assert "application/vnd.jupyter.widget-view+json" in page  # the dashboard cell ran
    assert "Traceback" not in page
    assert "ConfigError" not in page
    return page


def test_dashboard_of_a_session_directory_prints_a_url_that_serves_it(finished_session):
    workdir = Path(finished_session["config_path"]).parent
    port = free_port()
    cli = Cli(str(workdir), "--no-browser", "--port", str(port))
    try:
        url = cli.url()
        assert url == f"http://127.0.0.1:{port}/"
        _served(url)
        # recorded beside the session: its handle knows the URL while voila runs
        assert dashboard_url(workdir) == url
        handle = LocalSessionHandle(finished_session["session_id"], workdir, os.getpid())
        assert handle.dashboard_url == url
        voila = running_dashboard(workdir)
    finally:
        assert cli.stop() == 0
    assert not voila.alive()
    assert handle.dashboard_url is None
    assert not (workdir / RECORD_NAME).exists()


def test_dashboard_all_serves_the_fleet_view_and_a_session_id_needs_its_db(
    finished_session, tmp_path
):
    cli = Cli("--all", "--db", finished_session["url"], "--no-browser",
              env={"AIFAP_DATA_DIR": str(tmp_path / "data")})  # fmt: skip
    try:
        url = cli.url()
        assert "every session" in "".join(cli.seen)
        _served(url)
        assert (tmp_path / "data" / "dashboards" / "fleet" / RECORD_NAME).exists()
    finally:
        assert cli.stop() == 0

    by_id = Cli("dash", "--db", finished_session["url"], "--no-browser", "--detach",
                env={"AIFAP_DATA_DIR": str(tmp_path / "data")})  # fmt: skip
    try:
        url = by_id.url()
        assert by_id.wait() == 0  # --detach returns; voila keeps serving
        workdir = Path(finished_session["workdir"])  # the workdir live_sessions records
        assert dashboard_url(workdir) == url
        _served(url)
    finally:
        stop = Cli("dash", "--db", finished_session["url"], "--stop")
        assert stop.wait() == 0
    assert dashboard_url(workdir) is None


def test_dashboard_refuses_a_session_that_is_neither_a_directory_nor_an_id(tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", "from aifap.cli import main; main()", "dashboard", "no such/dir"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 1
    assert "SESSION must be a session directory" in run.stderr + run.stdout
    usage = subprocess.run(
        [sys.executable, "-c", "from aifap.cli import main; main()", "dashboard"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert usage.returncode == 2
