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
    from aifap.core.markets import MarketType
    from aifap.exchange.ccxt.client import make_exchange

    if credentials and register and not emulator.keys.known(key):
        emulator.add_account(key, secret, passphrase, balance=balance)
    exchange = make_exchange(
        "bitget",
        MarketType.FUTURES if default_type == "swap" else MarketType.SPOT,
        api_key=key if credentials else None,
        secret=secret if credentials else None,
        password=passphrase if credentials else None,
        api_url=emulator.url,
        sandbox=sandbox,
        timeout_ms=timeout_ms,
        rate_limit=rate_limit,
    )
    exchange.options.update({"defaultType": default_type, **(options or {})})
    return exchange
