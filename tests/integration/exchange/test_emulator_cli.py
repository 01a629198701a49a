"""``aifap emulator``: option parsing (serving is covered by the in-process tests)."""

from __future__ import annotations

from typer.testing import CliRunner

from aifap.cli import app


def test_help_lists_the_options():
    result = CliRunner().invoke(app, ["emulator", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output
    assert "--restrict-keys" in result.output


def test_malformed_account_is_a_usage_error():
    result = CliRunner().invoke(app, ["emulator", "--account", "only-a-key"])
    assert result.exit_code == 2
