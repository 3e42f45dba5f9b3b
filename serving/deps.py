"""FastAPI dependencies: the services container, the caller's identity and permissions.

Authentication order: ``Authorization: Bearer KEY`` first, then ``X-API-Key``. The security
schemes are declared through FastAPI's classes (auto_error off) so OpenAPI documents them, while
the failures themselves use our error schema.
"""
from __future__ import annotations

from typing import Annotated, Callable

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from serving.security.auth import PERMISSIONS, Principal
from serving.http.errors import DatabaseUnavailable, Forbidden, NotReady, RateLimited, TooManyInvalidKeys, Unauthenticated
from serving.security.ratelimit import RateLimiter
from serving.services import Services
from serving.settings import Settings

bearer_scheme = HTTPBearer(auto_error=False, description="API key as a bearer token")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key header (alternative)")


# Dependencies are `async def` although they do not await: FastAPI runs a plain `def` dependency
# in the thread pool, a hand-off that cost about a fifth of the event loop's time per request.


async def get_services(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if services is None:
        raise NotReady("the service is starting or stopping")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def current_settings(services: ServicesDep) -> Settings:
    return services.settings


SettingsDep = Annotated[Settings, Depends(current_settings)]


def require(permission: str) -> Callable:
    """Dependency: an authenticated caller whose role holds ``permission``, within its rate limit."""
    roles = sorted(PERMISSIONS[permission])

    async def dependency(
        request: Request,
        services: ServicesDep,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        header_key: Annotated[str | None, Depends(api_key_scheme)],
    ) -> Principal:
        key = (bearer.credentials if bearer else None) or header_key
        if not key:
            raise Unauthenticated(
                "missing API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                details={"schemes": ["Bearer", "X-API-Key"]},
            )
        hit, principal = services.keys.cached(key)
        if not hit:
            guard_invalid_keys(request, services, failed=False)  # before spending a database lookup
            try:
                principal = await run_in_threadpool(services.keys.lookup, key)
            except Exception as exc:  # noqa: BLE001
                raise DatabaseUnavailable("cannot check the API key: database unavailable") from exc
        if principal is None:
            guard_invalid_keys(request, services, failed=True)
            raise Unauthenticated("invalid or revoked API key (a revocation takes effect within the "
                                  "key cache time, TRIAGE_AUTH_CACHE_SECONDS)")
        request.state.principal = principal
        if not principal.can(permission):
            raise Forbidden(
                f"role {principal.role!r} may not use this endpoint",
                details={"role": principal.role, "allowed_roles": roles},
            )
        wait = await services.limiter.acquire_async(principal.key_id)  # Redis-shared or in memory
        if wait > 0:
            raise RateLimited(
                "rate limit exceeded for this API key",
                details={"retry_after_seconds": round(wait, 3)},
                headers={"Retry-After": RateLimiter.retry_after_header(wait)},
            )
        return principal

    return dependency


def guard_invalid_keys(request: Request, services: Services, failed: bool) -> None:
    """429 E528 for an address over its budget of wrong or revoked keys (serving/security/keyguard.py).
    ``failed``: count this attempt; otherwise only check, before spending a database lookup."""
    guard = getattr(services, "invalid_keys", None)
    if guard is None or not guard.enabled:
        return
    address = request.client.host if request.client else "unknown"
    wait = guard.failed(address) if failed else guard.wait(address)
    if wait > 0:
        raise TooManyInvalidKeys(
            "too many requests with an invalid API key from this address",
            details={"retry_after_seconds": round(wait, 3)},
            headers={"Retry-After": RateLimiter.retry_after_header(wait)},
        )


ClassifyCaller = Annotated[Principal, Depends(require("classify"))]
MatrixCaller = Annotated[Principal, Depends(require("matrix"))]
ReviewCaller = Annotated[Principal, Depends(require("review"))]
AdminCaller = Annotated[Principal, Depends(require("admin"))]
