"""The gateway as a service: one process holds an account's keys, sessions call it.

- :mod:`.service`: the FastAPI app ``aifap serve gateway`` runs (the seed's
  BitgetTrader), idempotent by client order id;
- :mod:`.client`: :class:`RemoteGateway`, the ``Gateway`` protocol over HTTP
  (``exchange: remote`` in a session config);
- :mod:`.account`: the served account's config (ACCOUNT.yaml);
- :mod:`.wire`: values and errors on the wire; :mod:`.store`: the client-id memory.
"""
