"""`tradehall serve`: run the whole platform (API, engine, projections, demo) in one process,
or one role of a scale-out deployment (`--role api|ws-gateway|engine|projector`, NATS
JetStream between them; docs/architecture.md, "Scale-out").

Builds the platform from the options (and `TRADEHALL_*` variables) and starts it before
uvicorn opens the port, so `/healthz` answers only once the engine has recovered (and the demo
market, when on, is set up). Then it prints the URLs and the demo credentials. Ctrl-C (SIGINT)
or SIGTERM stops the API first, then the demo and the engine (with a snapshot), then the
projections. Exit status 0 after a clean stop, 1 when the platform could not start (a locked or
corrupted journal is one line on stderr). The scale-out roles read their NATS and database
settings from `TRADEHALL_*` variables; the engine and projector roles serve only their probes
and metrics on --host/--port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
import uvicorn

from tradehall.entrypoints.api.ws.server_protocol import FanOutProtocol
from tradehall.entrypoints.demo import credentials
from tradehall.entrypoints.demo.setup import DemoComponent
from tradehall.journal import JournalCorrupted, JournalLocked

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform
    from tradehall.config import Settings

_log = logging.getLogger(__name__)
Role = Literal["platform", "fallback", "api", "ws-gateway", "engine", "projector"]
ROLES: tuple[Role, ...] = ("platform", "fallback", "api", "ws-gateway", "engine", "projector")
# uvicorn's sans-I/O WebSocket protocol (the default, websockets' legacy asyncio one, took
# 1.4-2x the CPU per fan-out send) with direct writes of pre-built frames (server_protocol.py;
# docs/benchmarks.md §6).
WS_PROTOCOL = FanOutProtocol


def uvicorn_config(app: Any, settings: Settings, **extra: Any) -> uvicorn.Config:
    """The HTTP and WebSocket server options of `serve` (tests and benchmarks use them too)."""
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_level": "warning",
        "lifespan": "on", "access_log": False,
        "timeout_keep_alive": settings.http_keep_alive_s,
        "ws": WS_PROTOCOL, "ws_per_message_deflate": settings.ws_deflate}
    options.update(extra)
    return uvicorn.Config(app, **options)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).",
                                      min=0, max=65535)] = 8000,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder of the journal, "
                                           "snapshots, read models and demo credentials "
                                           "(created if missing).")] = Path("var/platform"),
    demo: Annotated[bool | None, typer.Option(
        "--demo/--no-demo", help="Create the demo market (instruments, funded users, market "
        "makers) and keep it live; --no-demo gives an empty platform. On by default in the "
        "platform role, refused in the scale-out roles.")] = None,
    fsync: Annotated[bool, typer.Option(help="fsync every group commit (turn off only for "
                                        "tests and benchmarks).")] = True,
    role: Annotated[str, typer.Option(help="platform: everything; fallback: the API without "
                                      "an engine (logins, last-known state, fallback "
                                      "requests, dealing desk) over the same database; "
                                      "scale-out over NATS: api, ws-gateway (stateless API "
                                      "processes), engine (leader or standby), projector "
                                      "(events into the read models).")
                    ] = "platform",
) -> None:
    """Run the platform: REST and WebSocket API, engine with journal, SQL read models, and
    (by default) a live demo market. Ctrl-C stops it; a restart recovers the same state."""
    # Imported here: the web and SQL stack would slow down every other command's start.
    from pydantic import ValidationError

    from tradehall.config import Settings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration check
    if role not in ROLES:
        typer.echo(f"error: --role must be one of {', '.join(ROLES)}, not {role!r}", err=True)
        raise typer.Exit(2)
    if demo and role not in ("platform", "fallback"):
        typer.echo(f"error: the demo market runs only in the platform role, not in {role}",
                   err=True)
        raise typer.Exit(2)
    try:
        settings = Settings(host=host, port=port, data_dir=data_dir,
                            demo=role == "platform" and demo is not False, fsync=fsync,
                            role=role)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            typer.echo(f"error: {where + ': ' if where else ''}{message}", err=True)
        raise typer.Exit(2) from None
    if settings.demo and settings.environment == "production":
        typer.echo("error: the demo market (known passwords, funded accounts) is refused in "
                   "production: pass --no-demo", err=True)
        raise typer.Exit(1)
    if role == "engine":
        asyncio.run(_engine(settings))
        raise typer.Exit(0)
    if role == "projector":
        asyncio.run(_projector(settings))
        raise typer.Exit(0)
    ok = asyncio.run(_serve(settings))
    raise typer.Exit(0 if ok else 1)


async def _engine(settings: Settings) -> None:
    # Imported here: the engine node is its own module, loaded only by this role.
    from tradehall.entrypoints.workers.engine_node import run_engine_node

    await run_engine_node(settings)


async def _projector(settings: Settings) -> None:
    from tradehall.entrypoints.workers.projector_node import run_projector_node

    await run_projector_node(settings)


async def _serve(settings: Settings) -> bool:
    from tradehall.bootstrap import build
    from tradehall.entrypoints.api.app import create_app

    platform = await build(settings)
    try:
        await platform.start()
    except (JournalLocked, JournalCorrupted) as exc:
        with contextlib.suppress(Exception):
            await platform.stop()
        reason = ("its journal is locked by another running tradehall"
                  if isinstance(exc, JournalLocked) else str(exc))
        typer.echo(f"error: cannot serve {settings.data_dir}: {reason}", err=True)
        return False
    server: _Server | None = None
    try:
        app = create_app(platform)
        server = _Server(uvicorn_config(app, settings))
        announce = asyncio.create_task(_announce(server, platform))
        try:
            await server.serve()
        except SystemExit:  # uvicorn exits this way when it cannot bind the port
            typer.echo(f"error: cannot listen on {settings.host}:{settings.port}", err=True)
            return False
        finally:
            announce.cancel()
    finally:
        await platform.stop()
        if server is not None and server.started and settings.scale_out():
            typer.echo(f"tradehall {settings.role} stopped (engine seq "
                       f"{platform.engine.last_seq})")
        elif server is not None and server.started:
            typer.echo(f"tradehall stopped: state saved in {settings.data_dir}/ "
                       f"(journal seq {platform.engine.last_seq})")
    return server.started

class _Server(uvicorn.Server):
    """uvicorn's server, except that a caught SIGINT/SIGTERM is not raised again on exit.

    uvicorn re-raises the signal after its shutdown so that an embedding program dies of it;
    here the signal is the request for a clean stop, which continues with the platform's stop
    and ends with exit status 0. `listening` is set once the sockets accept connections.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


async def _announce(server: _Server, platform: Platform) -> None:
    """Print the URLs and the demo logins once the port is open."""
    await server.listening.wait()
    sockets = [s for srv in server.servers for s in (srv.sockets or ())]
    host, port = sockets[0].getsockname()[:2] if sockets else (platform.settings.host, 0)
    shown = f"[{host}]" if ":" in str(host) else str(host)
    base = f"http://{shown}:{port}"
    if platform.settings.scale_out():
        typer.echo(f"tradehall {platform.role} is running on {base}: API {base}/v1 and "
                   f"{base}/v2, WebSocket ws://{shown}:{port}/v1/ws, health {base}/healthz; "
                   f"engine over NATS {platform.settings.nats_url}\nPress Ctrl-C to stop.")
        return
    if platform.role == "fallback":
        typer.echo(f"tradehall fallback (no engine) is running on {base}: fallback requests "
                   f"{base}/v1/fallback, dealing desk {base}/v1/desk, health {base}/healthz\n"
                   "Press Ctrl-C to stop.")
        return
    lines = [
        f"tradehall is running on {base} (data in {platform.settings.data_dir}/)",
        f"  trading app      {base}/app/",
        f"  API (Alpaca v2)  {base}/v2      native API {base}/v1",
        f"  OpenAPI docs     {base}/docs",
        f"  WebSocket        ws://{shown}:{port}/v1/ws   (Alpaca trade_updates: /stream)",
        f"  health           {base}/healthz",
    ]
    demo = next((c for c in platform.components if isinstance(c, DemoComponent)), None)
    if demo is not None:
        path = credentials.path_in(platform.settings.data_dir)
        lines.append(f"  demo market      {len(demo.credentials)} users, market makers on "
                     f"BTC-USD ETH-USD EUR-USD AAPL; credentials in {path}")
        for entry in demo.credentials:
            lines.append(f"    {entry.username:<6} password {entry.password or '(unknown)'}"
                         f"  APCA-API-KEY-ID {entry.api_key_id}"
                         f"  APCA-API-SECRET-KEY {entry.api_secret_key}")
    lines.append("Press Ctrl-C to stop.")
    typer.echo("\n".join(lines))
