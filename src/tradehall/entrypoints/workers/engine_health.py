"""HTTP probes and metrics of an engine node: `/healthz` and `/metrics` for Kubernetes.

`/healthz` answers 200 once the node follows the command stream (as leader or standby) and
503 while it restores and catches up, so a rolling update waits for the new node to be warm.
`/metrics` gives the node's seq, published seq, role and pending results in Prometheus form.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from tradehall.entrypoints.workers.engine_node import EngineNode

_ROLES = ("starting", "standby", "leader")


class HealthServer:
    """Serves the probes of the current `EngineNode` (replaced when the node starts over)."""

    def __init__(self, host: str, port: int) -> None:
        self.node: EngineNode | None = None
        self._registry = CollectorRegistry()
        self._seq = Gauge("tradehall_engine_seq", "Last command applied", registry=self._registry)
        self._published = Gauge("tradehall_engine_published_seq",
                                 "Last command whose events are published",
                                 registry=self._registry)
        self._pending = Gauge("tradehall_engine_pending_results",
                              "Results applied but not yet in the event stream",
                              registry=self._registry)
        self._role = Gauge("tradehall_engine_role", "1 for the node's current role",
                           ["role"], registry=self._registry)
        app = Starlette(routes=[Route("/healthz", self._healthz),
                                Route("/metrics", self._metrics)])
        self._server = _QuietServer(uvicorn.Config(app, host=host, port=port,
                                                   log_level="warning", lifespan="off"))
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        for server in self._server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(), name="engine-health")
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it (the port is taken, ...)
                return
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _healthz(self, request: Request) -> Response:
        node = self.node
        if node is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        ok = node.role in ("standby", "leader")
        body = {"status": "ok" if ok else "starting", "role": node.role, "seq": node.seq,
                "published_seq": node.published_seq, "node_id": node.config.node_id}
        return JSONResponse(body, status_code=200 if ok else 503)

    async def _metrics(self, request: Request) -> Response:
        node = self.node
        if node is not None:
            self._seq.set(node.seq)
            self._published.set(node.published_seq)
            self._pending.set(node.pending_results)
            for role in _ROLES:
                self._role.labels(role).set(1 if node.role == role else 0)
        return Response(generate_latest(self._registry), media_type=CONTENT_TYPE_LATEST)


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handling: the node's own handlers stop the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
