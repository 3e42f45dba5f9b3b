"""API keys: generation, hashing, lookup with a short cache, and role permissions.

A key is shown once, when created; the database keeps only its sha256 and a display prefix.
sha256 (not a slow password hash) is enough because keys are 256-bit random strings, and it keeps
the per-request check cheap.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from serving.db.tables import ApiKey, Classification

KEY_PREFIX = "trk_"
PREFIX_CHARS = 12  # "trk_" + 8 random characters shown in listings

ROLES: tuple[str, ...] = ("ingest", "supervisor", "admin")
# Permission → roles that hold it. admin holds everything.
PERMISSIONS: dict[str, frozenset[str]] = {
    "classify": frozenset({"ingest", "admin"}),
    "matrix": frozenset({"supervisor", "admin"}),
    "review": frozenset({"supervisor", "admin"}),
    "metrics": frozenset(ROLES),
    "admin": frozenset({"admin"}),  # model reload (POST /v1/admin/reload)
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    key_id: int
    prefix: str
    role: str

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def utcnow() -> datetime:
    """Naive UTC, the storage convention (see serving/db/tables.py)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def create_key(session: Session, role: str, name: str | None = None) -> tuple[ApiKey, str]:
    """Store a new key for ``role``; returns the row and the plaintext key (shown once)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    key = generate_key()
    row = ApiKey(key_hash=hash_key(key), prefix=key[:PREFIX_CHARS], role=role, name=name, created_at=utcnow())
    session.add(row)
    session.flush()
    return row, key


def revoke_key(session: Session, row: ApiKey) -> int:
    """Revoke ``row`` and end every claim on review items it holds (a departed supervisor's open
    items go back to the queue at once instead of when their lease runs out). Every way of revoking
    a key goes through here. Returns how many claims ended."""
    row.revoked_at = utcnow()
    c = Classification
    return session.execute(update(c).where(c.claimed_by == row.id).values(claimed_by=None, claimed_until=None)
                           .execution_options(synchronize_session=False)).rowcount


def find_keys(session: Session, id_or_prefix: str) -> list[ApiKey]:
    """Keys whose numeric id or display prefix (or leading part of it) is ``id_or_prefix``."""
    if id_or_prefix.isdigit():
        row = session.get(ApiKey, int(id_or_prefix))
        return [row] if row else []
    if len(id_or_prefix) < 4:
        return []
    # A whole key pasted by mistake still identifies itself through its hash.
    by_hash = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(id_or_prefix))).all()
    if by_hash:
        return list(by_hash)
    needle = id_or_prefix[:PREFIX_CHARS]
    return list(session.scalars(select(ApiKey).where(ApiKey.prefix.startswith(needle, autoescape=True))))


class KeyStore:
    """Resolve presented keys to principals, caching results for ``ttl`` seconds (also misses,
    so a client hammering with a wrong key does not hit the database on every request)."""

    MAX_CACHED = 10_000

    def __init__(self, sessions: sessionmaker[Session], ttl: float):
        self.sessions = sessions
        self.ttl = ttl
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> tuple[bool, Principal | None]:
        """``(hit, principal)`` from the cache only: cheap enough for the event loop."""
        digest = hash_key(key)
        with self._lock:
            entry = self._cache.get(digest)
        if entry and entry[1] > time.monotonic():
            return True, entry[0]
        return False, None

    def lookup(self, key: str) -> Principal | None:
        """Database lookup (blocking: call from a worker thread)."""
        digest = hash_key(key)
        with self.sessions() as session:
            row = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
            principal = (
                Principal(key_id=row.id, prefix=row.prefix, role=row.role)
                if row is not None and row.revoked_at is None
                else None
            )
        if self.ttl > 0:
            with self._lock:
                if len(self._cache) >= self.MAX_CACHED:
                    self._cache.clear()
                self._cache[digest] = (principal, time.monotonic() + self.ttl)
        return principal

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()
