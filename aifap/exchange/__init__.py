"""Exchange gateways: one protocol for ccxt venues and paper trading, plus the emulator."""
