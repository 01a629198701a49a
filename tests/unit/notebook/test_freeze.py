"""Freezing a strategy file keeps it importable, whatever its first lines are."""

from __future__ import annotations

from aifap.notebook.freeze import freeze_strategy
from aifap.strategy import load_strategy

SOURCE = '''"""A strategy module with its own docstring and a __future__ import."""

from __future__ import annotations


def strategy(context, config_dict: dict) -> dict | None:
    return {"BTCUSDT": 0.5}
'''


def test_a_file_with_a_docstring_and_a_future_import_freezes_into_an_importable_module(tmp_path):
    source = tmp_path / "future.py"
    source.write_text(SOURCE)
    frozen = freeze_strategy(f"{source}:strategy", "future_v1", tmp_path / "strategies")
    fn = load_strategy(f"{frozen.path}:{frozen.function}")
    assert fn(None, {}) == {"BTCUSDT": 0.5}
    assert frozen.path.read_text().startswith("# Strategy 'future_v1' frozen by aifap.promote")
    # freezing the same source again reuses the file
    again = freeze_strategy(f"{source}:strategy", "future_v1", tmp_path / "strategies")
    assert again.path == frozen.path
