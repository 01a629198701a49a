"""A session with a wrong exchange secret ends with one line, both run directly and under papermill.

The Bitget emulator knows the account's real secret and rejects the session's
signature (40009); the session must stop non-zero with one line on stderr that names
the session, the account and the cause, keep the traceback in ``session.log`` and
leak the secret nowhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from live_helpers import REPO, SessionRun

from aifap.exchange.emulator import BitgetEmulator

KEY, SECRET, PASSPHRASE = "fail-key", "fail-real-secret", "fail-pass"
WRONG_SECRET = "wrong-secret-4f9c2e"
EXPECTED = (
    "session keys-ab12 (account bitget demo:main): the exchange rejected the API key "
    '(AuthenticationError: bitget {"code":"40009","msg":"sign signature error",'
)
ADVICE = (
    "Check api_key_env/secret_env/password_env (or api_key/secret/password) and that the "
    "key is enabled for futures trading."
)


@pytest.fixture
def exchange() -> Iterator[BitgetEmulator]:
    emu = BitgetEmulator().start()
    emu.add_account(KEY, SECRET, PASSPHRASE)
    yield emu
    emu.stop()


def _wrong_keys(session_run, exchange: BitgetEmulator) -> SessionRun:
    return session_run(
        session_id="keys-ab12", exchange="bitget", mode="demo", account="main",
        exchange_url=exchange.url, alert_channel="console",
        credentials={"api_key_env": "AIFAP_TEST_KEY", "secret_env": "AIFAP_TEST_SECRET",
                     "password_env": "AIFAP_TEST_PASSWORD"},
    )


def _run(run: SessionRun, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIFAP_DATA_DIR": str(run.dir / "data"), "AIFAP_TEST_KEY": KEY,
           "AIFAP_TEST_SECRET": WRONG_SECRET, "AIFAP_TEST_PASSWORD": PASSPHRASE}
    return subprocess.run(
        [sys.executable, "-c", "from aifap.cli import main; main()", "live", "run", *args,
         str(run.write())],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False,
    )


def _assert_one_line_and_no_leak(run: SessionRun, proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 1, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith(EXPECTED), line
    assert line.endswith(ADVICE), line
    assert "Traceback" not in proc.stdout + proc.stderr
    assert line in proc.stdout  # the console alert carries the same line
    log = run.log()
    assert "Traceback (most recent call last)" in log
    assert "ExchangeAuthError" in log
    leaks = [
        path for path in [*run.dir.rglob("*")]
        if path.is_file() and WRONG_SECRET.encode() in path.read_bytes()
        and path.name != "session.yaml"  # the config names env variables, holds no secret
    ]
    assert leaks == []
    assert WRONG_SECRET not in proc.stdout + proc.stderr
    events = run.journal().events()
    assert [e.message for e in events if e.level == "critical"] == [line]


def test_wrong_keys_end_a_direct_run_with_one_line(session_run, exchange) -> None:
    run = _wrong_keys(session_run, exchange)
    proc = _run(run, "--direct")
    _assert_one_line_and_no_leak(run, proc)


@pytest.mark.slow
def test_wrong_keys_end_a_papermill_run_with_the_same_line(session_run, exchange) -> None:
    run = _wrong_keys(session_run, exchange)
    proc = _run(run)
    _assert_one_line_and_no_leak(run, proc)
    assert "kernel process" not in proc.stderr
    runner = (run.workdir / "runner.json").read_text(encoding="utf-8")
    assert '"status": "failed"' in runner
    assert proc.stderr.strip().split(" (AuthenticationError")[0] in runner


def test_an_invalid_config_ends_with_one_line_naming_the_session(session_run) -> None:
    run = session_run(session_id="bad-cfg", allocation=-5)
    proc = _run(run, "--direct")
    assert proc.returncode == 1
    [line] = proc.stderr.splitlines()
    assert line.startswith("session bad-cfg (config session.yaml): the session config is invalid")
    assert "allocation" in line
    assert "Traceback" not in proc.stdout + proc.stderr


def test_an_unknown_symbol_ends_a_direct_run_with_one_line(session_run, exchange) -> None:
    run = _wrong_keys(session_run, exchange)
    run.config.update(symbols=["BTCUSDT", "NOPEUSDT"], credentials={
        "api_key": KEY, "secret": SECRET, "password": PASSPHRASE})
    proc = _run(run, "--direct")
    assert proc.returncode == 1, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith(
        "session keys-ab12 (account bitget demo:main): the exchange does not list a session "
        "symbol (UnknownSymbolError: symbols: each must be tradable on bitget futures, NOPEUSDT "
        "was not). Check symbols"
    ), line
    assert "Traceback" not in proc.stdout + proc.stderr
    assert SECRET not in proc.stdout + proc.stderr + run.log()
