"""Market data: bar files, synthetic market, OHLCV store, collector and service."""
