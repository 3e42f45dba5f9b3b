"""/v1/admin/keys: the API keys, and revoking one over HTTP (role admin).

`triage keys` does the same on the service's database; this is for an admin who holds an admin key but
no shell where the service runs (a pod, a managed database), typically because another key leaked. Keys
are created with the CLI only: a new key is a secret shown once, better printed on a terminal than
returned to whatever called an API. Revoking goes through ``serving.security.auth.revoke_key`` (the
claims the key held end at once); this process stops accepting the key at once, other replicas within
their auth cache time (TRIAGE_AUTH_CACHE_SECONDS). The key the request is made with cannot revoke
itself (409 E581), so nobody locks themselves out by mistake.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from serving.db.store import from_storage
from serving.db.tables import ApiKey
from serving.deps import AdminCaller, ServicesDep
from serving.http.contract import error_responses, no_unknown_query
from serving.http.errors import KeyNotFound, OwnKeyRevocation
from serving.security.auth import revoke_key

router = APIRouter(prefix="/v1/admin/keys", tags=["admin"])

KeyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The key's `id` (GET /v1/admin/keys, `triage keys list`)")]


class KeyView(BaseModel):
    id: int
    prefix: str = Field(description="The key's first characters, to tell keys apart (the key itself is never shown again)")
    role: str
    name: Optional[str]
    created_at: str
    revoked_at: Optional[str]


class KeyList(BaseModel):
    keys: list[KeyView]


class Revoked(KeyView):
    claims_released: int = Field(description="Review items the key had open, back in the queue")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else from_storage(value).isoformat(timespec="seconds")


def _view(row: ApiKey) -> dict:
    return {"id": row.id, "prefix": row.prefix, "role": row.role, "name": row.name,
            "created_at": _iso(row.created_at), "revoked_at": _iso(row.revoked_at)}


def list_keys(services) -> list[dict]:
    with services.sessions() as session:
        return [_view(r) for r in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def revoke(services, key_id: int, caller_key_id: int) -> dict:
    if key_id == caller_key_id:
        raise OwnKeyRevocation("a key cannot revoke itself: use another admin key, or `triage keys revoke`",
                               details={"id": key_id})
    with services.sessions.begin() as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            raise KeyNotFound(f"no API key has id {key_id}", details={"id": key_id})
        released = revoke_key(session, row) if row.revoked_at is None else 0  # revoking twice changes nothing
        view = {**_view(row), "claims_released": released}
    services.keys.invalidate()  # this process stops accepting it now, not when its cache entry expires
    return view


@router.get("", summary="API keys (prefix, role, created, revoked)", response_model=KeyList,
            responses=error_responses(401, 403, 422, 429), dependencies=[Depends(no_unknown_query)])
async def keys(services: ServicesDep, caller: AdminCaller) -> JSONResponse:
    return JSONResponse({"keys": await run_in_threadpool(list_keys, services)})


@router.post("/{key_id}/revoke", summary="Revoke an API key", response_model=Revoked,
             responses=error_responses(401, 403, 404, 409, 422, 429))
async def revoke_route(services: ServicesDep, caller: AdminCaller, key_id: KeyId) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(revoke, services, key_id, caller.key_id))
