"""Idempotency-Key: a key a client sends so that a replayed request returns the job the
first one made, bound to a fingerprint of that request."""

from __future__ import annotations

import json

from img2vid.store.base import StoreBase


class IdempotencyMixin(StoreBase):
    def claim_idempotency_key(
        self, key: str, job_id: str, fingerprint: str, ttl: int, owner: str | None = None
    ) -> tuple[str, str] | None:
        """Bind ``owner``'s ``key`` to ``job_id``; if it was bound already, return the
        (job_id, fingerprint) it holds."""
        with self._guard():
            k = self._keys.idempotency(key, owner)
            if self._redis.set(k, json.dumps([job_id, fingerprint]), nx=True, ex=ttl):
                return None
            held = self._redis.get(k)
            return tuple(json.loads(held)) if held else None  # type: ignore[return-value]

    def idempotency_key(self, key: str, owner: str | None = None) -> tuple[str, str] | None:
        with self._guard():
            held = self._redis.get(self._keys.idempotency(key, owner))
            return tuple(json.loads(held)) if held else None  # type: ignore[return-value]

    def release_idempotency_key(self, key: str, owner: str | None = None) -> None:
        self._redis.delete(self._keys.idempotency(key, owner))
