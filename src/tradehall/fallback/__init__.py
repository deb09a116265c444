"""Fallback and dealing desk: platform modes, users' cancel/close requests, the desk's work.

`model.py` holds the records and the state machine (pure), `ports.py` what the services need
from storage, `service.py` the use cases, `dispatch.py` the exactly-once execution of decided
requests against the engine, `monitor.py` the automatic switch to fallback mode.
"""
