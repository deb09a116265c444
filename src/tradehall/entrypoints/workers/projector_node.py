"""The projector role: `tradehall serve --role projector`.

Projects the events stream into the SQL read models (`NatsProjection`) until SIGTERM or
SIGINT, then commits what it read and exits. It serves the probes and metrics of a Kubernetes
pod on `--host`/`--port`, named as the API's: `/healthz` and `/readyz` (200 while it reads the
stream and its last write succeeded, 503 otherwise), `/livez` (200 while the process serves)
and `/metrics` (Prometheus: projected seq, the events stream's newest seq, the lag between
them, restarts, the loss shortfalls it committed). Run one per database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable, Iterator

import uvicorn
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tradehall.adapters.nats.projection import NatsProjection
from tradehall.config import Settings
from tradehall.entrypoints.api.metrics import shortfall_metrics

_log = logging.getLogger(__name__)


class ProjectorProbes:
    """The HTTP side of a projector process: probes and metrics."""

    def __init__(self, projection: NatsProjection) -> None:
        self.projection = projection
        self.registry = CollectorRegistry()
        self._projected = Gauge("tradehall_projector_projected_seq",
                                "Last engine seq in the read models", registry=self.registry)
        self._head = Gauge("tradehall_projector_stream_seq",
                           "Newest engine seq in the events stream", registry=self.registry)
        self._lag = Gauge("tradehall_projector_lag_commands",
                          "Commands in the events stream not projected yet",
                          registry=self.registry)
        self._restarts = Counter("tradehall_projector_restarts",
                                 "Projector restarts after a failed write", registry=self.registry)
        self._restarts_seen = 0
        self.registry.register(_ShortfallCollector(projection))
        self.app = Starlette(routes=[Route("/healthz", self.readyz),
                                     Route("/livez", self.livez),
                                     Route("/readyz", self.readyz),
                                     Route("/metrics", self.metrics)])

    def _body(self) -> dict[str, object]:
        p = self.projection
        return {"role": "projector", "projected_seq": p.projected_seq,
                "stream_seq": p.head_seq, "lag": p.lag, "connected": p.link.connected,
                "failures": p.failures}

    async def livez(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", **self._body()})

    async def readyz(self, request: Request) -> Response:
        ready = self.projection.ready()
        return JSONResponse({"status": "ok" if ready else "unavailable", **self._body()},
                            status_code=200 if ready else 503)

    async def metrics(self, request: Request) -> Response:
        p = self.projection
        self._projected.set(p.projected_seq)
        self._head.set(p.head_seq)
        self._lag.set(p.lag)
        if p.restarts > self._restarts_seen:
            self._restarts.inc(p.restarts - self._restarts_seen)
            self._restarts_seen = p.restarts
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class _ShortfallCollector(Collector):
    def __init__(self, projection: NatsProjection) -> None:
        self._projection = projection

    def collect(self) -> Iterable[Metric]:
        return shortfall_metrics(self._projection.db.shortfalls)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the projector's handlers stop the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_projector_node(settings: Settings) -> None:
    """Project until SIGTERM or SIGINT; serve the probes meanwhile."""
    from tradehall.bootstrap import build_projection

    projection = await build_projection(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    probes = ProjectorProbes(projection)
    server = _QuietServer(uvicorn.Config(probes.app, host=settings.host, port=settings.port,
                                         log_level="warning", lifespan="off",
                                         access_log=False))
    http = asyncio.create_task(server.serve(), name="projector-http")
    try:
        await projection.run(stop)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await http
        await projection.link.close()
        await projection.db.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    _log.info("projector stopped at seq %d", projection.projected_seq)
