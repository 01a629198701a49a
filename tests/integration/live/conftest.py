"""Fixtures of the live session tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from live_helpers import SessionRun


@pytest.fixture
def session_run(tmp_path: Path):
    def make(**overrides: Any) -> SessionRun:
        return SessionRun(tmp_path, **overrides)

    return make
