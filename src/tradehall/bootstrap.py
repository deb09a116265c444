"""The composition root: turn `Settings` into a running `Platform` and pick every adapter.

Embedded mode (the default) wires the engine thread (file journal), the in-process bus and the
SQL read models (SQLite unless a URL says otherwise). Start order matters: the read models
open first (their projected seq tells the engine where recovery must republish from), every
subscriber attaches before the engine starts (so nothing it publishes is missed), components
that send commands start after it. Stop runs the other way round and drains the projector.

The scale-out roles `api` and `ws-gateway` share everything but the adapters: the engine is a
`NatsEnginePort` (commands into the JetStream commands stream), an `EventRelay` feeds the
events stream into `Platform.publish` (so the bus and every subscriber work unchanged), no
projector runs (another process projects; `wait_for` polls), and the reference data comes
from the read models. `build_projection` wires the `projector` role.
Only this module chooses implementations; nothing else reads `Settings`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from tradehall.adapters.crypto.local_keys import LocalKeyFile
from tradehall.adapters.files.blobs import FileBlobStore
from tradehall.adapters.http.oidc import OidcConfig, OidcKeySet
from tradehall.adapters.inproc.bus import InprocEventBus
from tradehall.adapters.nats.engine_port import NatsEngineConfig, NatsEnginePort
from tradehall.adapters.nats.link import NatsLink
from tradehall.adapters.nats.projection import NatsProjection
from tradehall.adapters.nats.relay import EventRelay
from tradehall.adapters.nats.streams import Topology
from tradehall.adapters.redis.ratelimit import (
    RedisClientLifetime,
    RedisNonceStore,
    RedisRateLimiter,
)
from tradehall.adapters.redis.ratelimit import connect as connect_redis
from tradehall.adapters.redis.revocation import RedisRevocationNotices
from tradehall.adapters.redis.throttle import RedisFailureCounter
from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.sql.accounts import SqlAccountStore, SqlMailOutbox, SqlMfaStore
from tradehall.adapters.sql.audit import SqlAuditLog
from tradehall.adapters.sql.external import SqlExternalLinkStore
from tradehall.adapters.sql.fallback import SqlModeStore, SqlRequestStore
from tradehall.adapters.sql.kyc import SqlKycDocumentStore
from tradehall.adapters.sql.projector import ShortfallTotals
from tradehall.adapters.sql.projector_thread import ProjectorThread
from tradehall.adapters.sql.sessions import SqlAlertStore, SqlSessionStore, SqlSigningKeyStore
from tradehall.compliance.audit import AuditLog, AuditTrail
from tradehall.compliance.keys import KeyProvider
from tradehall.compliance.vault import DocumentVault
from tradehall.config import Settings
from tradehall.entrypoints.api.ws.alpaca_stream import AlpacaTradeUpdates
from tradehall.entrypoints.api.ws.feed import MarketDataFeed
from tradehall.entrypoints.api.ws.revocation import WsRevocationGuard
from tradehall.entrypoints.demo import catalog as demo_catalog
from tradehall.entrypoints.demo.setup import DemoComponent
from tradehall.entrypoints.workers.engine_host import EngineHostConfig
from tradehall.entrypoints.workers.engine_thread import EngineThread, EngineThreadConfig
from tradehall.entrypoints.workers.fallback_worker import FallbackWorker
from tradehall.entrypoints.workers.session_upkeep import SessionUpkeep
from tradehall.fallback.dispatch import Dispatcher
from tradehall.fallback.ports import RequestStore
from tradehall.fallback.service import DeskService, FallbackConfig, ModeService, RequestService
from tradehall.identity.alerts import AlertService
from tradehall.identity.apikeys import ApiKeyConfig, ApiKeyService
from tradehall.identity.external import ExternalConfig, ExternalIdentity
from tradehall.identity.mfa import MfaConfig, TotpService
from tradehall.identity.ratelimit import (
    MemoryRateLimiter,
    RateLimitConfig,
    RateLimiter,
    RateLimits,
    RateRule,
)
from tradehall.identity.revocation import InprocRevocationNotices, RevocationNotices
from tradehall.identity.sessions import SessionConfig, SessionService
from tradehall.identity.signing import (
    MemoryNonceStore,
    NonceStore,
    SignedRequestVerifier,
    SigningConfig,
)
from tradehall.identity.throttle import (
    FailureCounter,
    LoginThrottle,
    MemoryFailureCounter,
    ThrottleConfig,
)
from tradehall.identity.tokens import TokenConfig, TokenService
from tradehall.identity.users import AccountsConfig, UserService
from tradehall.kernel.clock import NANOS_PER_SECOND, Clock, LiveClock
from tradehall.marketdata.hub import MarketDataConfig, MarketDataHub
from tradehall.service.auth import AuthService
from tradehall.service.kyc import KycService
from tradehall.service.messages import EventBatch
from tradehall.service.ports import EnginePort, IdentityStore, ReadModel
from tradehall.service.refdata import ReferenceData
from tradehall.service.trading import TradingService

_log = logging.getLogger(__name__)


class Component(Protocol):
    """A part of the platform with a lifecycle (market data hub, demo market, ...)."""

    async def attach(self, platform: Platform) -> None:
        """Subscribe to what it needs; runs before the engine starts."""
        ...

    async def start(self, platform: Platform) -> None:
        """Begin work; runs once the engine accepts commands."""
        ...

    async def stop(self) -> None:
        """Stop work; runs before the engine stops."""
        ...


class LateComponent(Component, Protocol):
    """A component the API can attach to a platform that runs without it (see
    `Platform.component`): made without arguments, opened on the running loop."""

    def open(self, platform: Platform) -> None:
        """Subscribe and start its work at once (its `attach` and `start` in one)."""
        ...


_Late = TypeVar("_Late", bound=LateComponent)


class PlatformEngine(EnginePort, Protocol):
    """The engine as the platform sees it: the embedded engine thread or, in scale-out, the
    port to the engine nodes over NATS."""

    @property
    def last_seq(self) -> int:
        """The newest engine seq this process knows of."""
        ...

    async def stop(self) -> None: ...


@dataclass
class ScaleOutParts:
    """What an API or gateway process adds in scale-out: its NATS connection, the engine port
    and the relay of the events stream."""

    link: NatsLink
    port: NatsEnginePort
    relay: EventRelay


@dataclass
class FallbackParts:
    """The fallback mode and dealing desk: the mode, the users' and the desk's use cases, and
    the dispatcher that executes decided requests once the engine accepts commands."""

    modes: ModeService
    requests: RequestService
    desk: DeskService
    dispatcher: Dispatcher
    store: RequestStore
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by the desk when a request was decided, so the worker dispatches at once."""


@dataclass
class Platform:
    """Everything one tradehall process runs, wired."""

    settings: Settings
    clock: Clock
    bus: InprocEventBus
    engine: PlatformEngine
    refdata: ReferenceData
    db: SqlDatabase
    trading: TradingService
    auth: AuthService
    keys_provider: KeyProvider
    audit_trail: AuditTrail
    kyc: KycService
    fallback: FallbackParts
    components: list[Component] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    engine_thread: EngineThread | None = None
    """The embedded engine (roles platform); None in the fallback and scale-out roles."""
    scale_out: ScaleOutParts | None = None
    _projector: ProjectorThread | None = None
    _started: bool = False

    @property
    def read_model(self) -> ReadModel:
        return self.db.read_model

    @property
    def shortfalls(self) -> ShortfallTotals | None:
        """The loss shortfalls this process's projector committed; None when another process
        projects (the scale-out roles)."""
        return self.db.shortfalls if self._projector is not None else None

    def component(self, kind: type[_Late]) -> _Late:
        """The platform's component of `kind`, made and opened on first use when bootstrap
        attached none (an app built around a bare platform, as some tests do)."""
        for component in self.components:
            if isinstance(component, kind):
                return component
        made = kind()
        self.components.append(made)
        made.open(self)
        return made

    @property
    def identity(self) -> IdentityStore:
        return self.db.identity

    @property
    def audit(self) -> AuditLog:
        return self.auth.audit

    @property
    def role(self) -> str:
        return self.settings.role

    async def start(self) -> None:
        """Attach the subscribers, recover the engine, then start the components."""
        if self.settings.role == "fallback":
            # No engine and no projector: instruments come from the read models, which the
            # platform process (when it runs) keeps writing.
            for component in self.components:
                await component.attach(self)
            assets, instruments = await self.db.read_model.reference_data()
            self.refdata.load(assets, instruments)
            for component in self.components:
                await component.start(self)
            self._started = True
            return
        if self.scale_out is not None:
            await self._start_scale_out(self.scale_out)
            return
        assert self.engine_thread is not None
        # The projector runs on its own thread and loop, off the API's event loop.
        self._projector = self.db.projector_thread(self.bus.subscribe_threaded("projector"))
        await self._projector.start()
        for component in self.components:
            await component.attach(self)
        await self.engine_thread.start(projection_seq=self.db.projected_seq)
        assets, instruments = self.engine_thread.reference_data()
        self.refdata.load(assets, instruments)
        for component in self.components:
            await component.start(self)
        self._started = True

    async def _start_scale_out(self, parts: ScaleOutParts) -> None:
        # Reference data as of the projected seq, then the events after it from the relay
        # (which seeds the books from the newest market snapshot and catches up first).
        for component in self.components:
            await component.attach(self)
        projected = self.db.projected_seq
        assets, instruments = await self.db.read_model.reference_data()
        self.refdata.load(assets, instruments)
        await parts.port.start()
        await parts.relay.start(after_seq=projected)
        parts.port.results.floor = parts.relay.start_seq
        for component in self.components:
            await component.start(self)
        self._started = True

    async def stop(self) -> None:
        """Stop the components, then the engine (snapshot), then drain the projector."""
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:
                _log.exception("component %r failed to stop", component)
        if self.scale_out is not None:
            await self.scale_out.relay.stop()
        await self.engine.stop()
        if self.scale_out is not None:
            await self.scale_out.link.close()
        self.bus.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._projector is not None:
            projector, self._projector = self._projector, None
            await projector.wait()  # drained: every batch before the close is committed
        await self.db.close()
        self._started = False

    def publish(self, batch: EventBatch) -> None:
        """Reference data first (so the edge converts with it at once), then the bus."""
        self.refdata.apply(batch)
        self.bus.publish(batch)


async def build(settings: Settings, *, clock: Clock | None = None) -> Platform:
    """Open the read models and wire a platform (not started yet)."""
    clock = clock or LiveClock()
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    db = await SqlDatabase.open(settings.sql_url())
    bus = InprocEventBus()
    refdata = ReferenceData()
    holder: list[Platform] = []
    engine: PlatformEngine
    engine_thread: EngineThread | None = None
    scale_out: ScaleOutParts | None = None
    if settings.role in ("api", "ws-gateway"):
        scale_out = _scale_out_parts(settings, lambda batch: holder[0].publish(batch))
        engine = scale_out.port
    elif settings.role in ("platform", "fallback"):
        host = EngineHostConfig(data_dir=data_dir / "journal", fsync=settings.fsync,
                                snapshot_every=settings.snapshot_every,
                                snapshots_kept=settings.snapshots_kept)
        engine = engine_thread = EngineThread(
            EngineThreadConfig(host=host, book_depth=settings.book_depth,
                               max_batch=settings.max_batch),
            clock, lambda batch: holder[0].publish(batch))
    else:
        raise ValueError(f"the {settings.role} role runs no API platform")
    # -- Identity (one block per part) -----------------------------------------------------------
    # Master keys: sessions, 2FA and API-key helpers seal their secrets with `keys_provider`.
    keys_provider: KeyProvider = LocalKeyFile.open(settings.master_key_path(),
                                                   create=settings.may_create_master_key())
    # The audit trail: a hash chain in SQL (`platform.audit_trail` searches and verifies it).
    audit: AuditTrail = SqlAuditLog(db.engine, db.writer, clock.now_ns)
    # Accounts, 2FA, login throttling: tokens and TOTP secrets in SQL, mail to the outbox.
    accounts = SqlAccountStore(db.engine, db.writer)
    mfa = TotpService(SqlMfaStore(db.engine, db.writer), accounts, keys_provider, clock, audit,
                      MfaConfig(required_for=frozenset(
                          {"withdrawal"} if settings.require_mfa_for_withdrawals else ())))
    # Revocation notices: revoked sessions and keys reach every process at once (Redis).
    notices = _revocation_notices(settings)
    failures, throttle_redis = _login_failures(settings)
    throttle = LoginThrottle(failures, clock, ThrottleConfig(
        free_failures=settings.login_free_failures,
        ip_free_failures=settings.login_ip_free_failures,
        lockout_failures=settings.login_lockout_failures,
        lockout_ns=settings.login_lockout_s * NANOS_PER_SECOND))
    users = UserService(db.identity, clock, audit, accounts=accounts,
                        mailer=SqlMailOutbox(db.engine, db.writer, clock=clock),
                        throttle=throttle, mfa=mfa, config=AccountsConfig(
                            email_token_ttl_ns=settings.email_token_ttl_s * NANOS_PER_SECOND,
                            reset_token_ttl_ns=settings.password_reset_ttl_s * NANOS_PER_SECOND),
                        notices=notices)
    # Sessions and tokens: RS256 key ring (private keys sealed), sessions, devices, alerts.
    tokens = TokenService(SqlSigningKeyStore(db.engine, db.writer), clock, audit, TokenConfig(
        issuer=settings.token_issuer, audience=settings.token_audience,
        access_ttl_s=settings.access_token_ttl_s,
        rotation_age_s=settings.signing_key_rotation_age_s,
        retired_grace_s=max(300, 2 * settings.session_upkeep_interval_s)), provider=keys_provider)
    await tokens.load()
    alerts = AlertService(SqlAlertStore(db.engine, db.writer), clock)
    sessions = SessionService(SqlSessionStore(db.engine, db.writer), clock, audit, alerts,
                              SessionConfig(refresh_ttl_s=settings.refresh_token_ttl_s,
                                            access_ttl_s=settings.access_token_ttl_s),
                              notices=notices)
    await sessions.load()
    # API keys, signed requests, rate limits: in process, or shared through Redis.
    keys, signing, limits, redis_lifetime = _api_key_parts(settings, db, clock, audit,
                                                           keys_provider, notices)
    notices.subscribe(sessions)
    notices.subscribe(keys)
    auth = AuthService(db.identity, clock, audit=audit, users=users, mfa=mfa, tokens=tokens,
                       sessions=sessions, alerts=alerts, keys=keys, signing=signing,
                       limits=limits, revocations=notices)
    # External identity provider: its tokens authenticate like ours (None when not configured).
    auth.external = _external_identity(settings, db, users, clock, audit)
    # -- end of identity --------------------------------------------------------------------------
    # -- Compliance: the KYC vault (ciphertext files under the data dir, metadata in SQL) --
    kyc = KycService(SqlKycDocumentStore(db.engine, db.writer), FileBlobStore(data_dir / "kyc"),
                     DocumentVault(keys_provider), audit, clock)
    trading = TradingService(engine, refdata)
    # -- Fallback and dealing desk: the mode gates every user trading command --
    fallback = _fallback_parts(settings, db, trading, refdata, clock, audit, alerts,
                               lambda: bus.last_seq)
    trading.gate = fallback.modes.gate
    platform = Platform(settings=settings, clock=clock, bus=bus, engine=engine,
                        refdata=refdata, db=db, trading=trading,
                        auth=auth, keys_provider=keys_provider,
                        audit_trail=audit, kyc=kyc, fallback=fallback,
                        engine_thread=engine_thread, scale_out=scale_out)
    holder.append(platform)
    # -- Components (one block per component; attach order = list order) ----------------------
    if redis_lifetime is not None:
        platform.components.append(redis_lifetime)
    if throttle_redis is not None:
        platform.components.append(throttle_redis)
    if isinstance(notices, RedisRevocationNotices):
        platform.components.append(notices)  # the subscriber; stops (closes) after the guard
    platform.components.append(WsRevocationGuard())
    hub = MarketDataHub(MarketDataConfig(book_depth=settings.book_depth))
    platform.components.append(MarketDataFeed(hub))
    if scale_out is not None:
        scale_out.relay.seed = hub.seed  # a late-started process shows whole books
    if settings.demo and settings.role == "platform":
        platform.components.append(DemoComponent())
    platform.components.append(AlpacaTradeUpdates())
    platform.components.append(SessionUpkeep(settings.session_upkeep_interval_s))
    # Monitor and dispatcher wherever an engine answers (decided requests execute once
    # whichever process takes them: the request rows change by conditional updates).
    platform.components.append(FallbackWorker(settings.fallback_health_failures,
                                              with_engine=settings.role != "fallback"))
    # -- end of components ------------------------------------------------------------------------
    return platform


def topology(settings: Settings) -> Topology:
    """The JetStream layout of a scale-out deployment, from the settings."""
    return Topology(url=settings.nats_url, prefix=settings.nats_prefix,
                    replicas=settings.nats_replicas, lease_s=settings.engine_lease_s)


def node_name(settings: Settings) -> str:
    """This process's name in NATS connections and logs (the pod name)."""
    return settings.node_id or f"{socket.gethostname()}-{os.getpid()}"


def _scale_out_parts(settings: Settings,
                     publish: Callable[[EventBatch], None]) -> ScaleOutParts:
    link = NatsLink(topology(settings), f"{settings.role}-{node_name(settings)}")
    port = NatsEnginePort(link, NatsEngineConfig(
        result_timeout_s=settings.result_timeout_s,
        failover_grace_s=3 * settings.engine_lease_s))
    # The result index first: a caller waiting for its result is woken before the bus fans
    # the batch out.
    relay = EventRelay(link, [port.deliver, publish])
    return ScaleOutParts(link=link, port=port, relay=relay)


async def build_projection(settings: Settings) -> NatsProjection:
    """Open the read models and wire the projector role (not started yet)."""
    db = await SqlDatabase.open(settings.sql_url())
    return NatsProjection(NatsLink(topology(settings), f"projector-{node_name(settings)}"), db)


def _fallback_parts(settings: Settings, db: SqlDatabase, trading: TradingService,
                    refdata: ReferenceData, clock: Clock, audit: AuditLog,
                    alerts: AlertService, engine_seq: Callable[[], int]) -> FallbackParts:
    config = FallbackConfig(claim_ttl_s=settings.fallback_claim_ttl_s,
                            four_eyes_notional=settings.fallback_four_eyes_notional,
                            house_account=settings.fallback_house_account or (
                                str(demo_catalog.HOUSE_ACCOUNT) if settings.demo else None),
                            sla_warn_s=settings.fallback_sla_warn_s,
                            sla_breach_s=settings.fallback_sla_breach_s)
    store = SqlRequestStore(db.engine, db.writer)
    modes = ModeService(SqlModeStore(db.engine, db.writer), clock, audit, refdata)
    wake = asyncio.Event()
    return FallbackParts(
        modes=modes,
        requests=RequestService(store, modes, db.read_model, refdata, clock, audit, alerts,
                                config),
        desk=DeskService(store, modes, db.read_model, refdata, clock, audit, alerts, config,
                         wake_dispatcher=wake.set),
        dispatcher=Dispatcher(store, trading, db.read_model, clock, audit, alerts,
                              engine_seq=engine_seq, house_account=config.house_account),
        store=store, wake=wake)


def _revocation_notices(settings: Settings) -> InprocRevocationNotices | RedisRevocationNotices:
    # Through Redis when configured; either way the periodic re-reads remain the safety net.
    if not settings.redis_url:
        return InprocRevocationNotices()
    return RedisRevocationNotices(settings.redis_url, prefix=settings.redis_prefix)


def _login_failures(settings: Settings) -> tuple[FailureCounter, RedisClientLifetime | None]:
    # Shared through Redis when configured, so every API process sees every failure.
    if not settings.redis_url:
        return MemoryFailureCounter(), None
    redis = connect_redis(settings.redis_url)
    return RedisFailureCounter(redis, MemoryFailureCounter(),
                               prefix=settings.redis_prefix + "login:"), RedisClientLifetime(redis)


def _external_identity(settings: Settings, db: SqlDatabase, users: UserService, clock: Clock,
                       audit: AuditLog) -> ExternalIdentity | None:
    if settings.oidc_issuer is None or settings.oidc_audience is None:
        return None
    keys = OidcKeySet(OidcConfig(issuer=settings.oidc_issuer,
                                 discovery_url=settings.oidc_discovery_url,
                                 jwks_url=settings.oidc_jwks_url,
                                 cache_s=settings.oidc_jwks_cache_s,
                                 min_refresh_s=settings.oidc_jwks_min_refresh_s), clock)
    config = ExternalConfig(issuer=settings.oidc_issuer, audience=settings.oidc_audience,
                            username_claim=settings.oidc_username_claim,
                            roles_claim=settings.oidc_roles_claim,
                            default_roles=(settings.oidc_default_role,),
                            auto_provision=settings.oidc_auto_provision)
    return ExternalIdentity(config, keys, SqlExternalLinkStore(db.engine, db.writer), users,
                            db.identity, clock, audit)


def _api_key_parts(settings: Settings, db: SqlDatabase, clock: Clock, audit: AuditLog,
                   provider: KeyProvider, notices: RevocationNotices
                   ) -> tuple[ApiKeyService, SignedRequestVerifier, RateLimits,
                              RedisClientLifetime | None]:
    keys = ApiKeyService(db.identity, clock, audit, provider,
                         ApiKeyConfig(cache_ttl_s=settings.api_key_cache_ttl_s), notices=notices)
    redis = connect_redis(settings.redis_url) if settings.redis_url else None
    prefix = settings.redis_prefix
    limiter: RateLimiter = (MemoryRateLimiter(clock) if redis is None
                            else RedisRateLimiter(redis, prefix))
    nonces: NonceStore = (MemoryNonceStore(clock) if redis is None
                          else RedisNonceStore(redis, prefix))
    signing = SignedRequestVerifier(keys, nonces, clock,
                                    SigningConfig(window_s=settings.signed_request_window_s))

    def rule(per_s: int, burst: int) -> RateRule | None:
        return RateRule(per_s, burst) if per_s else None

    limits = RateLimits(limiter, RateLimitConfig(
        per_ip=rule(settings.rate_limit_ip_per_s, settings.rate_limit_ip_burst),
        per_key=rule(settings.rate_limit_key_per_s, settings.rate_limit_key_burst),
        per_user=rule(settings.rate_limit_user_per_s, settings.rate_limit_user_burst)))
    return keys, signing, limits, None if redis is None else RedisClientLifetime(redis)
