"""Fixtures of the Redis integration tests: the test server (started in CI, else skipped)."""

from __future__ import annotations

from tests.kit.services import redis_server as redis_server
