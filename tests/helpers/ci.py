"""Whether the suite runs in CI, and the skip that becomes a failure there."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip locally, but fail in CI where every part must be present."""
    if IN_CI:
        pytest.fail(f"required in CI (CI=true): {reason}")
    pytest.skip(reason)
