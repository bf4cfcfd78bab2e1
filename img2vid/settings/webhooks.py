"""Webhooks (README: webhooks): the secret deliveries are signed with, whether receivers
on private addresses are allowed, when a failed delivery is tried again, and its queue.

Web reads them to accept or refuse a job's webhook_url at submit, workers to deliver.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from img2vid.errors import invalid
from img2vid.settings.common import Settings
from img2vid.settings.variables import Secret, given_name, read_secret
from img2vid.webhook_url import WebhookPolicy

SECRET_PREFIX = "whsec_"
# The Standard Webhooks spec's bounds for a secret's random bytes.
SECRET_BYTES = (24, 64)
DEFAULT_RETRY_SECONDS = (2.0, 10.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)


class WebhookSettings(Settings):
    """What web and workers read besides every process's settings: the webhooks'. (The
    command line reads none of them: a wrong one never stops `img2vid encode`.)"""

    # whsec_<base64 of 24-64 random bytes>; empty: webhooks are off, and a job that names
    # a webhook_url is refused. Never in repr: settings may be printed.
    webhook_secret: Secret = Field("", json_schema_extra={"secret": True}, repr=False)
    # Deliveries to loopback, private and link-local addresses (off: refused, SSRF).
    webhook_allow_private: bool = False
    # Seconds before each retry (the last repeats), each within ±20 % (jitter), or later
    # if the receiver's Retry-After says so.
    webhook_retry_seconds: Annotated[tuple[float, ...], NoDecode] = DEFAULT_RETRY_SECONDS
    # No retry is scheduled later than this after the job finished.
    webhook_give_up_seconds: float = Field(86_400.0, ge=0)
    # A claimed delivery (a message sent, or an attempt under way) is left to its worker
    # this long, then is due again: a worker killed mid-delivery is retried this late.
    # Keep it above the 5 s a delivery may take.
    webhook_claim_seconds: float = Field(60.0, ge=0.5)
    # Empty: IMG2VID_QUEUE + ".webhooks" (webhook_queue_name).
    webhook_queue: str = ""

    @property
    def webhook_queue_name(self) -> str:
        return self.webhook_queue or f"{self.queue}.webhooks"

    @property
    def webhook_policy(self) -> WebhookPolicy:
        return WebhookPolicy(enabled=bool(self.webhook_secret), allow_private=self.webhook_allow_private)

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> Any:
        value = read_secret(value)
        if not isinstance(value, str) or not value:
            return value
        # The message never holds the value: it is a secret even when malformed.
        name = given_name(cls, "webhook_secret")
        wrong = invalid(
            "bad_setting",
            f"{name} must be {SECRET_PREFIX} and the base64 of {SECRET_BYTES[0]} to {SECRET_BYTES[1]} random "
            f"bytes, e.g. from: python3 -c \"import base64, os; print('{SECRET_PREFIX}' + "
            'base64.b64encode(os.urandom(32)).decode())"',
        )
        if not value.startswith(SECRET_PREFIX):
            raise wrong
        encoded = value[len(SECRET_PREFIX) :]
        try:
            raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise wrong from None
        if not SECRET_BYTES[0] <= len(raw) <= SECRET_BYTES[1]:
            raise wrong
        return value

    @field_validator("webhook_retry_seconds", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            steps = tuple(float(part) for part in value.replace(" ", "").split(","))
        except ValueError:
            steps = ()
        if not steps or not all(math.isfinite(s) and 0 < s <= 86_400 for s in steps):
            raise invalid(
                "bad_setting",
                f"IMG2VID_WEBHOOK_RETRY_SECONDS must be seconds before each retry, each above 0 and at most "
                f"86400, comma-separated (the last repeats), e.g. '2,10,30,120', got {value!r}",
            )
        return steps

    @model_validator(mode="after")
    def _queue_apart(self) -> WebhookSettings:
        queue, prefix = self.webhook_queue_name, self.key_prefix
        if queue == self.queue:
            raise invalid("bad_setting", "IMG2VID_WEBHOOK_QUEUE must not be IMG2VID_QUEUE (the jobs' queue)")
        if queue.startswith(prefix):
            raise invalid(
                "bad_setting",
                f"IMG2VID_WEBHOOK_QUEUE ({queue!r}) must not start with IMG2VID_KEY_PREFIX ({prefix!r})",
            )
        return self
