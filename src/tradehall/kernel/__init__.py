"""Shared kernel: ids, clock, exact numbers, errors. Imports only the stdlib and msgspec."""
