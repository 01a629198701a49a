"""A trader's strategy must lie inside the allowed strategies directories."""

from __future__ import annotations

import os

import pytest

from aifap.api.strategy_paths import check_strategy
from aifap.core.errors import ConfigError


@pytest.fixture
def roots(tmp_path, monkeypatch):
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    (strategies / "mine.py").write_text("def strategy(context, config):\n    return {}\n")
    outside = tmp_path / "outside.py"
    outside.write_text("def strategy(context, config):\n    return {}\n")
    (strategies / "escape.py").symlink_to(outside)
    monkeypatch.chdir(tmp_path)
    return [strategies]


@pytest.mark.parametrize(
    "spec",
    ["strategies/mine.py", "strategies/mine.py:strategy", "strategies/missing.py",
     "strategies.mine", "strategies.mine:strategy"],
)  # fmt: skip
def test_files_and_modules_inside_a_root_pass(roots, spec):
    check_strategy(spec, roots)
    check_strategy(os.path.abspath(spec) if spec.endswith(".py") else spec, roots)


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        ("strategies/../outside.py", "must not contain '..'"),
        ("../strategies/mine.py", "must not contain '..'"),
        ("/etc/passwd.py", "must be a file inside the strategies directories"),
        ("outside.py", "must be a file inside the strategies directories"),
        ("strategies/escape.py", "must be a file inside the strategies directories"),
        ("/tmp/x/strategy.py:run", "must be a file inside the strategies directories"),
        ("os:system", "must be a .py file or a module of the strategies directories"),
        ("subprocess", "must be a .py file or a module of the strategies directories"),
        ("strategies", "must be a .py file or a module of the strategies directories"),
    ],
)
def test_anything_else_is_refused_naming_the_field_and_the_rule(roots, spec, rule):
    with pytest.raises(ConfigError) as caught:
        check_strategy(spec, roots)
    message = str(caught.value)
    assert message.startswith("strategy must")
    assert rule in message
    assert repr(spec) in message
