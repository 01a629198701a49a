"""Bitget's error envelope, raised by handlers and turned into a response by the app."""

from __future__ import annotations


class BitgetError(Exception):
    """An error answered as ``{"code": code, "msg": msg, "data": null}`` with HTTP ``status``."""

    def __init__(self, code: str, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status


def missing(name: str) -> BitgetError:
    """Return the error for a missing required parameter."""
    return BitgetError("40019", f"Parameter {name} cannot be empty")


def bad_symbol(symbol: str) -> BitgetError:
    """Return the error for a symbol the emulator does not list."""
    return BitgetError("40034", f"Parameter {symbol} does not exist")
