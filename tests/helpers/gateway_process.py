"""The gateway service of the emulator's account, run as ``aifap serve gateway`` in its own process.

Only this process gets the account's keys (as environment variables its ACCOUNT.yaml
names); the session gets the service's URL and a token scoped to the account.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from aifap.auth.tokens import issue_token

KEY, SECRET, PASSPHRASE = "demo-key", "demo-secret", "demo-pass"
SIGNING_KEY = "gateway-test-signing-key-0123456789abcdef"
ACCOUNT = "emu-acct"
REPO = Path(__file__).resolve().parents[2]
KEY_ENV = {"EMU_API_KEY": KEY, "EMU_API_SECRET": SECRET, "EMU_API_PASSPHRASE": PASSPHRASE}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    """``aifap serve gateway`` for the emulator account, restartable on the same port and DB.

    Args:
        directory: where the account file, the client-id database and the log go.
        exchange_url: the emulator's URL.
        session: the session config (market, leverage and retry budget are copied).
    """

    def __init__(self, directory: Path, exchange_url: str, session: dict[str, Any]) -> None:
        self.dir = directory
        self.port = _free_port()
        self.account_file = directory / "account.yaml"
        self.log = directory / "gateway.log"
        account = {
            "account": ACCOUNT,
            "venue": "bitget",
            "market": session.get("market", "futures"),
            "demo": session.get("mode", "demo") == "demo",
            "leverage": session.get("leverage", 1),
            "exchange_url": exchange_url,
            "database_url": f"sqlite:///{directory / 'gateway.db'}",
            "keys": {
                "api_key_env": "EMU_API_KEY",
                "secret_env": "EMU_API_SECRET",
                "password_env": "EMU_API_PASSPHRASE",
            },
        }
        if session.get("retry"):
            account["retry"] = session["retry"]
        self.account_file.write_text(yaml.safe_dump(account), encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> GatewayProcess:
        """Start the service and wait until ``/ready`` answers."""
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO)),
            "AIFAP_DATA_DIR": str(self.dir / "gateway-data"),
            "AIFAP_SECRET_KEY": SIGNING_KEY,
            **KEY_ENV,
        }
        command = [
            *(sys.executable, "-c", "from aifap.cli import main; main()", "serve", "gateway"),
            *("--account", str(self.account_file), "--port", str(self.port)),
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gateway not ready in {timeout} s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the service (no graceful anything)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """Stop the service."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def session_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Return the session config trading through this service: URL, token, no keys."""
        token = issue_token(
            config.get("session_id", "sess"),
            [f"gateway:{ACCOUNT}"],
            ttl="1d",
            session_id=config.get("session_id"),
            key=SIGNING_KEY,
        )
        out = {k: v for k, v in config.items() if k not in ("credentials", "exchange_url")}
        return {**out, "exchange": "remote", "gateway_url": self.url, "gateway_token": token}


@contextmanager
def served_gateway(parent: Path, exchange_url: str) -> Iterator[GatewayProcess]:
    """Serve the emulator account's futures demo gateway from ``parent/gateway``, then stop it."""
    directory = parent / "gateway"
    directory.mkdir()
    service = GatewayProcess(directory, exchange_url, {"market": "futures", "mode": "demo"})
    service.start()
    try:
        yield service
    finally:
        service.stop()

class _Watcher(threading.Thread):
    def __init__(self, gateway: GatewayProcess, emulator: Any, after: int, down_s: float) -> None:
        super().__init__(name="gateway-killer", daemon=True)
        self.gateway, self.emulator, self.after, self.down_s = gateway, emulator, after, down_s
        self.base = len(emulator.request_log.records(path="/api/v2/mix/order/place-order"))
        self.killed_at: int | None = None
        self.done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 240
        while not self.done.is_set() and time.monotonic() < deadline:
            seen = len(self.emulator.request_log.records(path="/api/v2/mix/order/place-order"))
            if seen - self.base >= self.after:
                self.gateway.kill()
                self.killed_at = seen - self.base
                time.sleep(self.down_s)
                self.gateway.start()
                return
            time.sleep(0.005)

    def join(self, timeout: float | None = None) -> int | None:  # type: ignore[override]
        self.done.set()
        super().join(timeout if timeout is not None else 120)
        return self.killed_at


def kill_when(gateway: GatewayProcess, emulator: Any, after_orders: int, down_s: float) -> _Watcher:
    """Start a thread that SIGKILLs ``gateway`` after ``after_orders`` placements, then restarts."""
    watcher = _Watcher(gateway, emulator, after_orders, down_s)
    watcher.start()
    return watcher
