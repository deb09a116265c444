"""Adapters: the only place that talks to drivers (SQL, Redis, brokers) and in-process stand-ins.

Each implements a port of `service/ports.py`; `bootstrap.py` picks them.
"""
