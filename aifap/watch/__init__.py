"""Finwatcher: the session's metrics snapshots every interval, and the results store."""
