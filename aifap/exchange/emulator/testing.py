"""Test helpers: a configured ``ccxt.bitget`` pointed at a running emulator.

```python
emu = BitgetEmulator(bars={"BTCUSDT": frame}, clock=ManualClock("2024-01-02")).start()
exchange = bitget_client(emu, key="alice")              # signed, key registered
public = bitget_client(emu, credentials=False)           # public endpoints only
```
The client has ``options={'uta': False, 'defaultType': 'swap'}`` (classic v2 API),
every ``urls['api']`` key pointed at ``emu.url``, a short timeout and the rate
limiter off unless asked. With ``register=True`` (default) the key is added to the
emulator with its secret and passphrase, so every signed request is checked.
"""

from __future__ import annotations

from typing import Any

from aifap.exchange.emulator.emulator import BitgetEmulator


def point_at(exchange: Any, url: str) -> Any:
    """Point every ``urls['api']`` entry of a ccxt bitget instance at ``url``."""
    for name in list(exchange.urls["api"]):
        exchange.urls["api"][name] = url
    return exchange


def bitget_client(
    emulator: BitgetEmulator,
    *,
    key: str = "test-key",
    secret: str = "test-secret",  # noqa: S107 - a throwaway secret for the local emulator
    passphrase: str = "test-passphrase",  # noqa: S107
    credentials: bool = True,
    register: bool = True,
    balance: Any = None,
    default_type: str = "swap",
    timeout_ms: int = 5_000,
    rate_limit: bool = False,
    sandbox: bool = False,
    options: dict[str, Any] | None = None,
) -> Any:
    """Return a ``ccxt.bitget`` talking to ``emulator`` (see the module docstring)."""
    import ccxt

    config: dict[str, Any] = {
        "timeout": timeout_ms,
        "enableRateLimit": rate_limit,
        "options": {"defaultType": default_type, "uta": False, **(options or {})},
    }
    if credentials:
        config.update({"apiKey": key, "secret": secret, "password": passphrase})
        if register and not emulator.keys.known(key):
            emulator.add_account(key, secret, passphrase, balance=balance)
    exchange = ccxt.bitget(config)
    point_at(exchange, emulator.url)
    if sandbox:
        exchange.set_sandbox_mode(True)
    return exchange
