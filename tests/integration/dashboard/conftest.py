"""Fixtures of the dashboard tests: a finished paper session, Voila servers, Chromium pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dash_helpers import CHROMIUM, FLAGS, paper_session
from helpers.ci import unavailable

from aifap.deploy.dashboard import DashboardProcess, DashboardTarget, start_dashboard


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def finished_session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A short paper session on the replay clock, run to its end (its rows are real)."""
    return paper_session(tmp_path_factory.mktemp("paper-session"))


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's Chromium through Playwright (a fresh profile for the test session)."""
    if not CHROMIUM.exists():
        unavailable(f"Debian's chromium must be installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright must be installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1300, "height": 1500},
        )
        yield context
        context.close()


@pytest.fixture
def page(chromium: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A new browser tab; its screenshot goes to tmp_path, and its path is printed on failure."""
    tab = chromium.new_page()
    yield tab
    shot = tmp_path / f"{request.node.name}.png"
    try:
        tab.screenshot(path=str(shot), full_page=True)
    except Exception as exc:  # a crashed page has no screenshot; say so rather than hide it
        shot = Path(f"(no screenshot: {exc})")
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(f"\nscreenshot of the failed dashboard test: {shot}")
        report.sections.append(("screenshot", str(shot)))
    tab.close()


@pytest.fixture
def voila(tmp_path: Path) -> Iterator[Callable[..., DashboardProcess]]:
    """Start Voila dashboards (stopped after the test)."""
    started: list[DashboardProcess] = []

    def start(session_id: str | None, url: str, workdir: Path | None = None,
              refresh: float = 1.0) -> DashboardProcess:
        target = DashboardTarget(session_id, url, workdir or tmp_path / "dash-record")
        running = start_dashboard(target, refresh_seconds=refresh, timeout=120)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
