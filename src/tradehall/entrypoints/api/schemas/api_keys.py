"""Wire schemas of API key management (`/v1/api-keys`): create, the one-time secret, lists.

The secret appears in `ApiKeyCreated` only, once; `ApiKeyPublic` never carries it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Scope = Literal["read", "trade", "withdraw"]


class ApiKeyCreate(BaseModel):
    """A new key: label, scopes (default read and trade; read is always granted), allow-list."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="", max_length=128)
    scopes: list[Scope] | None = Field(default=None, max_length=3,
                                       examples=[["read", "trade"]])
    ip_allow: list[str] = Field(default_factory=list, max_length=32,
                                examples=[["203.0.113.0/24", "2001:db8::1"]],
                                description="CIDR blocks or addresses; empty: anywhere")


class ApiKeyPublic(BaseModel):
    key_id: str
    label: str
    scopes: list[str]
    ip_allow: list[str]
    created_at: str
    last_used_at: str | None
    revoked: bool


class ApiKeyCreated(ApiKeyPublic):
    secret: str = Field(description="shown once; store it now")


class ApiKeysPublic(BaseModel):
    data: list[ApiKeyPublic]
