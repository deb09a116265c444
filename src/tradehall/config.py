"""Settings of a tradehall process, from `TRADEHALL_*` environment variables and the CLI.

One `Settings` object per process; `bootstrap.py` turns it into the frozen per-component
configs. Embedded defaults need nothing set: a data directory with the journal and a SQLite
file of read models. Outside development, placeholder secrets are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    fsync: bool = True
    book_depth: int = Field(default=50, ge=1, le=1000)
    max_batch: int = Field(default=1024, ge=1, le=65536)
    snapshot_every: int = Field(default=200_000, ge=0)
    jwt_secret: SecretStr | None = None
    """HMAC key of access tokens; generated into the data directory when unset."""
    access_token_ttl_s: int = Field(default=900, ge=30, le=86_400)
    master_key_file: Path | None = None
    """Key file of the local master keys (sealed secrets, KYC documents); in the data
    directory when unset."""
    master_key_create: bool = False
    """Create the master key file when it is missing. Development always may; production
    refuses to start without the file unless this is set (a new key orphans old data)."""

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment == "production":
            secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
            if secret.lower() in _PLACEHOLDERS or len(secret) < 32:
                raise ValueError("TRADEHALL_JWT_SECRET must be set to a random value of at "
                                 "least 32 characters in production")
        return self

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
