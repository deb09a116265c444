"""Settings of a tradehall process, from `TRADEHALL_*` environment variables and the CLI.

One `Settings` object per process; `bootstrap.py` turns it into the frozen per-component
configs. Embedded defaults need nothing set: a data directory with the journal and a SQLite
file of read models. Outside development, placeholder secrets are refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_ORIGIN = re.compile(r"'self'|https?://[A-Za-z0-9.*:\[\]-]+")
"""An origin in an allow-list: scheme, host, optional port; nothing a header could break on."""
_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "dev", "development"}


class Settings(BaseSettings):
    """Everything a platform process can be told."""

    model_config = SettingsConfigDict(env_prefix="TRADEHALL_", frozen=True, extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    database_url: str | None = None
    """SQLAlchemy URL of the read models; SQLite in the data directory when unset."""
    demo: bool = True
    """Create the demo instruments, users and market makers on start."""
    http_keep_alive_s: int = Field(default=75, ge=1, le=3_600)
    """How long an idle HTTP connection stays open: longer than the load balancer's idle
    timeout, so the server never closes a connection the balancer is about to reuse."""
    ws_deflate: bool = False
    """Offer permessage-deflate to WebSocket clients. Off: the fan-out serializes a message
    once for all clients, and compression redoes the work for each of them: twice the CPU per
    client and message, and ~45 KB more memory per connection (docs/benchmarks.md §6)."""
    role: Literal["platform", "fallback", "api", "ws-gateway", "engine", "projector"] = (
        "platform")
    """`platform` runs everything in one process (the embedded default); `fallback` runs the
    API without an engine: logins, the last-known state from the read models, fallback
    requests and the dealing desk, so it keeps serving while the platform process is gone
    (docs/fallback.md). The scale-out roles (docs/architecture.md, "Scale-out") share NATS
    JetStream: `api` (stateless REST and WebSocket; commands go to the command stream),
    `ws-gateway` (the same process, deployed for WebSocket clients), `engine` (leader or hot
    standby) and `projector` (events into the SQL read models)."""
    # -- Scale-out (roles api, ws-gateway, engine, projector) --
    nats_url: str = "nats://127.0.0.1:4222"
    nats_prefix: str = Field(default="TH", pattern=r"^[A-Z][A-Z0-9_]{0,31}$")
    """Names of the streams and buckets (`<prefix>_COMMANDS`, ...): one per deployment."""
    nats_replicas: int = Field(default=1, ge=1, le=5)
    """JetStream replicas of every stream and bucket (3 on a three-node NATS cluster)."""
    engine_lease_s: float = Field(default=3.0, ge=0.5, le=60.0)
    """How long the engine leadership lease lives unrenewed: the failover time's main part."""
    node_id: str | None = Field(default=None, min_length=1, max_length=64,
                                pattern=r"^[A-Za-z0-9_.-]+$")
    """This process's name in leases and logs (the pod name); host name and pid when unset."""
    result_timeout_s: float = Field(default=10.0, gt=0, le=120.0)
    """How long an API process waits for a stored command's result from the events stream
    (covers an engine failover) before it answers 504 result_pending."""
    fsync: bool = True
    book_depth: int = Field(default=50, ge=1, le=1000)
    max_batch: int = Field(default=1024, ge=1, le=65536)
    snapshot_every: int = Field(default=200_000, ge=0)
    snapshots_kept: int = Field(default=3, ge=0)
    """Snapshot files kept after each snapshot (0 keeps all); journal segments are removed only
    by `tradehall journal prune`."""
    # -- Sessions and tokens (RS256 access tokens, refresh-token families, key ring) --
    access_token_ttl_s: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_s: int = Field(default=14 * 86_400, ge=300, le=365 * 86_400)
    """A session ends when its refresh token is not used for this long."""
    signing_key_rotation_age_s: int = Field(default=30 * 86_400, ge=0)
    """Rotate the access-token signing key once it is this old (0: only `tradehall keys
    rotate`); retired keys verify until every token they signed has expired."""
    token_issuer: str = Field(default="tradehall", min_length=1, max_length=200)
    token_audience: str = Field(default="tradehall-api", min_length=1, max_length=200)
    session_upkeep_interval_s: int = Field(default=60, ge=1, le=3_600)
    """How often the key ring and the revoked sessions are re-read (rotations and revocations
    made by other processes or the CLI reach this one within it)."""
    master_key_file: Path | None = None
    """Key file of the local master keys (sealed secrets, KYC documents); in the data
    directory when unset."""
    master_key_create: bool = False
    """Create the master key file when it is missing. Development always may; production
    refuses to start without the file unless this is set (a new key orphans old data)."""
    # -- Accounts, 2FA, login throttling --
    require_mfa_for_withdrawals: bool = False
    """Refuse withdrawals of users without 2FA (with 2FA, a withdrawal always needs a code)."""
    email_token_ttl_s: int = Field(default=86_400, ge=60, le=30 * 86_400)
    password_reset_ttl_s: int = Field(default=3_600, ge=60, le=86_400)
    login_free_failures: int = Field(default=3, ge=1, le=100)
    """Failed logins of a username before each further attempt must wait (1 s, doubling)."""
    login_ip_free_failures: int = Field(default=20, ge=1, le=10_000)
    """Failed logins from one address (any usernames) before its attempts must wait."""
    login_lockout_failures: int = Field(default=10, ge=2, le=1_000)
    """Failed logins of a username that lock it for `login_lockout_s`."""
    login_lockout_s: int = Field(default=900, ge=1, le=86_400)
    # -- External identity provider (OpenID Connect); off while oidc_issuer is unset --
    oidc_issuer: str | None = None
    """The provider's issuer (`iss`); its tokens are accepted as bearer tokens."""
    oidc_audience: str | None = None
    """The `aud` its tokens must carry (tradehall's client id at the provider)."""
    oidc_discovery_url: str | None = None
    """The provider's `/.well-known/openid-configuration` (or give oidc_jwks_url)."""
    oidc_jwks_url: str | None = None
    oidc_username_claim: str = "preferred_username"
    oidc_roles_claim: str | None = None
    """A claim listing tradehall role names; unset keeps the roles stored on the user."""
    oidc_default_role: str = "trader"
    oidc_auto_provision: bool = False
    """Create a user and engine account on a provider user's first login."""
    oidc_jwks_cache_s: int = Field(default=300, ge=1, le=86_400)
    oidc_jwks_min_refresh_s: int = Field(default=10, ge=0, le=3600)
    """A token with an unknown key id refetches the keys at most this often."""
    # -- API keys, signed requests, rate limits, HTTP hardening --
    redis_url: str | None = None
    """Redis for state shared by API processes (rate limits, nonces, login failures, revocation
    notices); in-process when unset."""
    redis_prefix: str = Field(default="th:", min_length=1, max_length=64,
                              pattern=r"^[A-Za-z0-9_.:{}-]+$")
    """Prefix of every Redis key and channel: deployments sharing one Redis need different ones
    (in Redis Cluster, put a hash tag in it: `{th}:`)."""
    signed_request_window_s: int = Field(default=30, ge=1, le=600)
    """How far a signed request's timestamp may be from the server's clock, either way."""
    api_key_cache_ttl_s: int = Field(default=30, ge=0, le=3600)
    """How long a checked API key is trusted before it is re-read (other processes' changes)."""
    rate_limit_ip_per_s: int = Field(default=2000, ge=0)
    """Requests a second per client address (0: no limit); bursts up to the burst below.
    Generous: users behind one NAT, or a proxy without forwarded headers, share an address."""
    rate_limit_ip_burst: int = Field(default=4000, ge=1)
    rate_limit_key_per_s: int = Field(default=200, ge=0)
    rate_limit_key_burst: int = Field(default=400, ge=1)
    rate_limit_user_per_s: int = Field(default=400, ge=0)
    rate_limit_user_burst: int = Field(default=800, ge=1)
    cors_allow_origins: list[str] = Field(default_factory=list)
    """Origins allowed to call the API from a browser (JSON list); none by default."""
    cors_allow_credentials: bool = False
    frame_ancestors: list[str] = Field(default_factory=list)
    """Origins that may frame tradehall's pages (CSP frame-ancestors); none by default."""
    hsts_max_age_s: int = Field(default=0, ge=0)
    """Send Strict-Transport-Security with this max-age (set it when served over HTTPS)."""
    max_json_depth: int = Field(default=32, ge=2, le=512)
    fallback_claim_ttl_s: int = Field(default=120, ge=1, le=86_400)
    """A dealer's claim on a fallback request not acted on for this long frees it."""
    fallback_four_eyes_notional: int | None = Field(default=None, ge=0)
    """Fallback requests above this notional (quote minor units) need a second dealer."""
    fallback_sla_warn_s: int = Field(default=120, ge=1)
    fallback_sla_breach_s: int = Field(default=600, ge=1)
    fallback_house_account: str | None = Field(default=None, min_length=1, max_length=64)
    """The engine account that takes the other side of the desk's manual executions (at a
    dealer-given price); unset: manual execution is off."""
    fallback_health_failures: int = Field(default=3, ge=1, le=1_000)
    """Failed engine probes in a row (every 0.5 s) before the platform enters fallback."""

    @model_validator(mode="after")
    def _check_origins(self) -> Settings:
        for name, origins in (("CORS_ALLOW_ORIGINS", self.cors_allow_origins),
                              ("FRAME_ANCESTORS", self.frame_ancestors)):
            for origin in origins:
                if not _ORIGIN.fullmatch(origin):
                    raise ValueError(f"TRADEHALL_{name}: {origin!r} is not 'self' or an "
                                     "http(s) origin")
        return self

    @model_validator(mode="after")
    def _check_shared_database(self) -> Settings:
        # Scale-out processes share one read-model database; a SQLite file of their own in
        # each data directory would silently split the read models between processes.
        if self.role in ("api", "ws-gateway", "projector") and not self.database_url:
            raise ValueError(f"the {self.role} role needs TRADEHALL_DATABASE_URL: the "
                             "PostgreSQL database every scale-out process shares")
        return self

    @model_validator(mode="after")
    def _check_oidc(self) -> Settings:
        if self.oidc_issuer is None:
            return self
        if not self.oidc_audience:
            raise ValueError("TRADEHALL_OIDC_AUDIENCE must be set with TRADEHALL_OIDC_ISSUER")
        if self.oidc_issuer == self.token_issuer:
            # The gateway tells the provider's tokens from ours by `iss`.
            raise ValueError("TRADEHALL_OIDC_ISSUER must differ from TRADEHALL_TOKEN_ISSUER")
        urls = [u for u in (self.oidc_discovery_url, self.oidc_jwks_url) if u]
        if not urls:
            raise ValueError("set TRADEHALL_OIDC_DISCOVERY_URL or TRADEHALL_OIDC_JWKS_URL")
        if self.environment == "production" and not all(u.startswith("https://") for u in urls):
            raise ValueError("the identity provider's URLs must use https in production")
        return self

    def scale_out(self) -> bool:
        """Whether this process is one of the scale-out roles (NATS between the parts)."""
        return self.role in ("api", "ws-gateway", "engine", "projector")

    def master_key_path(self) -> Path:
        """Where the local master key file is."""
        return self.master_key_file or self.data_dir / "master-keys.json"

    def may_create_master_key(self) -> bool:
        """Whether a missing master key file may be generated."""
        return self.environment != "production" or self.master_key_create

    def sql_url(self) -> str:
        """The read models' database URL (async driver)."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'readmodels.sqlite3').resolve()}"
