"""Every JSON answer is strict JSON: a float that is not finite (NaN, Infinity) makes
the answer fail loudly instead of being sent as something no JSON parser accepts (one
such job once broke GET /api/v1/jobs, and so the jobs page, for every user)."""

from __future__ import annotations

from flask.json.provider import DefaultJSONProvider


class StrictJSONProvider(DefaultJSONProvider):
    sort_keys = False

    def dumps(self, obj, **kwargs) -> str:
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)
