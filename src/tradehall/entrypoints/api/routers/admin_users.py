"""User administration (role `admin`): list and inspect users, set roles and states, unlock.

Role and state changes are audited (`user.roles_changed`, `user.state_changed`,
`user.unlocked`) with the admin as actor. Locking or closing a user also ends their sessions;
access tokens already issued carry the old roles until they expire (minutes). Both changes
publish a `user` revocation notice (in `UserService`), so every process re-checks the user's API
keys, and their open WebSockets, at once.
"""

from __future__ import annotations

from fastapi import APIRouter

from tradehall.entrypoints.api.deps import AdminDep, ContextDep, PlatformDep
from tradehall.entrypoints.api.errors import error_responses
from tradehall.entrypoints.api.routers.native_common import summaries_from_docstrings
from tradehall.entrypoints.api.routers.native_render import timestamp
from tradehall.entrypoints.api.schemas import accounts as s
from tradehall.identity.ports import UserRecord

router = APIRouter(prefix="/v1/admin/users", tags=["admin"])


def _public(user: UserRecord) -> s.UserAdminPublic:
    return s.UserAdminPublic(
        user_id=user.user_id, username=user.username, account=user.account, email=user.email,
        email_verified=user.email_verified, state=user.state, roles=list(user.roles),
        mfa_enabled=user.mfa_enabled, failed_logins=user.failed_logins,
        locked_until=None if user.locked_until_ns is None else timestamp(user.locked_until_ns),
        created_at=timestamp(user.created_ns))


@router.get("", response_model=s.UsersAdminPublic, responses=error_responses(401, 403))
async def list_users(platform: PlatformDep, _: AdminDep) -> s.UsersAdminPublic:
    """List every user with state, roles, 2FA and lockout."""
    users = await platform.auth.users.list_users()
    return s.UsersAdminPublic(data=[_public(u) for u in users])


@router.get("/{username}", response_model=s.UserAdminPublic,
            responses=error_responses(401, 403, 404))
async def get_user(username: str, platform: PlatformDep, _: AdminDep) -> s.UserAdminPublic:
    """One user by username."""
    return _public(await platform.auth.users.get_user(username))


@router.put("/{username}/roles", response_model=s.UserAdminPublic,
            responses=error_responses(401, 403, 404, 409, 422))
async def set_roles(username: str, body: s.UserRolesUpdate, platform: PlatformDep,
                    admin: AdminDep, ctx: ContextDep) -> s.UserAdminPublic:
    """Replace a user's roles (audited)."""
    user = await platform.auth.users.set_roles(admin, username, body.roles, ctx)
    return _public(user)


@router.put("/{username}/state", response_model=s.UserAdminPublic,
            responses=error_responses(401, 403, 404, 409, 422))
async def set_state(username: str, body: s.UserStateUpdate, platform: PlatformDep,
                    admin: AdminDep, ctx: ContextDep) -> s.UserAdminPublic:
    """Activate, lock or close a user (audited); locking or closing ends their sessions."""
    user = await platform.auth.users.set_state(admin, username, body.state, ctx)
    if body.state != "active":
        await platform.auth.sessions.revoke_all(user.user_id, actor=admin.user_id, ctx=ctx,
                                                reason=f"account_{body.state}")
    return _public(user)


@router.post("/{username}/unlock", response_model=s.UserAdminPublic,
             responses=error_responses(401, 403, 404))
async def unlock(username: str, platform: PlatformDep, admin: AdminDep,
                 ctx: ContextDep) -> s.UserAdminPublic:
    """Lift a lockout after failed logins (audited)."""
    return _public(await platform.auth.users.unlock(admin, username, ctx))


summaries_from_docstrings(router)
