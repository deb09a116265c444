"""The read models' schema as SQLAlchemy Core tables: the one description migrations follow.

Projections of the event stream (orders, fills, balances, positions, candles, reference data,
the projection's progress) and the identity store (users, API keys). Integers inside, as in
the engine: prices in ticks, quantities in lots, money in minor units; values that can pass 64
bits use `ExactInt` (NUMERIC(38,0)). Tables only: no domain class maps onto them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from tradehall.adapters.sql.column_types import ExactInt

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# On SQLite only INTEGER PRIMARY KEY is the rowid itself (no separate key index); BIGINT
# elsewhere. Tables with a composite key are WITHOUT ROWID there: one B-tree, not two.
ROWID = BigInteger().with_variant(Integer(), "sqlite")

# -- Projection progress and reference data -----------------------------------------------------

projection_state = Table(
    "projection_state", metadata,
    Column("name", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

assets = Table(
    "assets", metadata,
    Column("asset", String(32), primary_key=True),
    Column("scale", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

instruments = Table(
    "instruments", metadata,
    Column("symbol", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("base", String(32), nullable=False),
    Column("quote", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("spec", Text, nullable=False),  # the InstrumentSpec as JSON (decimals as strings)
    Column("seq", BigInteger, nullable=False),
)

# -- Trading projections ------------------------------------------------------------------------

orders = Table(
    "orders", metadata,
    Column("order_id", ROWID, primary_key=True, autoincrement=False),
    Column("id", String(36), nullable=False, unique=True),
    Column("account", String(64), nullable=False),
    Column("client_order_id", String(128), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("time_in_force", String(8), nullable=False),
    Column("qty", BigInteger, nullable=False),
    Column("filled_qty", BigInteger, nullable=False),
    Column("filled_notional", ExactInt, nullable=False),
    Column("price", BigInteger),
    Column("stop_price", BigInteger),
    Column("post_only", Boolean, nullable=False),
    Column("reduce_only", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Column("cancel_reason", String(64)),
    Column("created_ns", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    Column("filled_ns", BigInteger),
    Column("canceled_ns", BigInteger),
    Column("expired_ns", BigInteger),
    Column("seq", BigInteger, nullable=False),
    Index(None, "account", "created_ns"),
    Index(None, "account", "client_order_id"),
)
# Alpaca's default listing is the open orders: a partial index finds them without walking an
# account's whole history. Orders that open and close within one transaction never enter it.
# Queries repeat this condition as the same literal text, so both planners see that the
# partial index covers them.
OPEN_ORDERS = "status IN ('new', 'partially_filled', 'pending_new')"
Index("ix_orders_open", orders.c.account, orders.c.created_ns,
      sqlite_where=text(OPEN_ORDERS), postgresql_where=text(OPEN_ORDERS))

fills = Table(
    "fills", metadata,
    Column("trade_id", BigInteger, primary_key=True, autoincrement=False),
    Column("liquidity", String(8), primary_key=True),
    Column("order_id", BigInteger, nullable=False),
    Column("account", String(64), nullable=False),
    Column("client_order_id", String(128), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("side", String(8), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("qty", BigInteger, nullable=False),
    Column("notional", ExactInt, nullable=False),
    Column("fee", ExactInt, nullable=False),
    Column("leaves_qty", BigInteger, nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Index(None, "account", "seq"),
    Index(None, "order_id"),
    sqlite_with_rowid=False,
)

balances = Table(
    "balances", metadata,
    Column("account", String(64), primary_key=True),
    Column("asset", String(32), primary_key=True),
    Column("available", ExactInt, nullable=False),
    Column("held", ExactInt, nullable=False),
    Column("seq", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

positions = Table(
    "positions", metadata,
    Column("account", String(64), primary_key=True),
    Column("symbol", String(64), primary_key=True),
    Column("net_qty", BigInteger, nullable=False),
    Column("cost_ticks", ExactInt, nullable=False),
    Column("realized_pnl", ExactInt, nullable=False),
    Column("margin", ExactInt, nullable=False),
    Column("seq", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

candles = Table(
    "candles", metadata,
    Column("symbol", String(64), primary_key=True),
    Column("interval_s", Integer, primary_key=True, autoincrement=False),
    Column("start_ns", BigInteger, primary_key=True, autoincrement=False),
    Column("open", BigInteger, nullable=False),
    Column("high", BigInteger, nullable=False),
    Column("low", BigInteger, nullable=False),
    Column("close", BigInteger, nullable=False),
    Column("volume", ExactInt, nullable=False),
    Column("trades", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# -- Identity -----------------------------------------------------------------------------------

users = Table(
    "users", metadata,
    Column("user_id", String(36), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("account", String(64), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("email", String(254), nullable=True, unique=True),
    Column("email_verified", Boolean, nullable=False, server_default=text("false")),
    Column("state", String(16), nullable=False, server_default="active"),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until_ns", BigInteger, nullable=True),
    Column("mfa_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("password_changed_ns", BigInteger, nullable=True),
)

api_keys = Table(
    "api_keys", metadata,
    Column("key_id", String(64), primary_key=True),
    Column("secret_hash", String(128), nullable=False),
    Column("user_id", String(36), ForeignKey("users.user_id"), nullable=False, index=True),
    Column("label", String(128), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("scopes", JSON, nullable=False, server_default='["read", "trade"]'),
    Column("ip_allow", JSON, nullable=False, server_default="[]"),
    Column("last_used_ns", BigInteger, nullable=True),
)
