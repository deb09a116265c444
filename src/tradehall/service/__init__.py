"""The service layer: use cases between the edges (REST, WebSocket, CLI) and the engine.

It speaks to the engine, the event stream and the read models only through the ports in
`ports.py`; `bootstrap.py` picks the adapters. It imports no I/O library.
"""
