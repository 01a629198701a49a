"""Fixtures of the papermill runner and promotion tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from nb_helpers import session_config


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a session config into tmp_path and return its path."""

    def write(**overrides: Any) -> Path:
        path = tmp_path / "session.yaml"
        path.write_text(yaml.safe_dump(session_config(tmp_path, **overrides)), encoding="utf-8")
        return path

    return write
