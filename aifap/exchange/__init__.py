"""Exchange gateways: the protocol, the registry sessions find theirs in, ccxt, paper, emulator."""
