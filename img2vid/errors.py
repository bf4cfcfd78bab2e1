"""Every failure img2vid reports, each with a stable ``code`` that the CLI prints and the
HTTP API returns as ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError
from pydantic_core import PydanticCustomError


def shown(value: object, limit: int = 40) -> str:
    """A client's value as a message shows it: short, and printable whatever it holds."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Img2VidError(Exception):
    """Raised when img2vid cannot do what was asked; the base of every error here."""

    code = "error"

    def __init__(self, message: str, *, path: str | Path | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        if code:  # a finer code than the class's, e.g. too_many_frames for a TooLargeError
            self.code = code

    def to_dict(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.path is not None:
            out["path"] = self.path
        return out


# --- the request itself is wrong ---------------------------------------------------


class InvalidOptionError(Img2VidError):
    """Raised when an encoding option (fps, codec, size, fit, pattern) is not valid."""

    code = "invalid_option"


class BadFpsError(InvalidOptionError):
    """Raised when fps is not a number from 0.01 (a frame lasts at most 100 s) to 240."""

    code = "bad_fps"


class UnknownCodecError(InvalidOptionError):
    """Raised when the codec is not one img2vid can write."""

    code = "unknown_codec"


class BadSizeError(InvalidOptionError):
    """Raised when the output size is not WxH with sane positive integers."""

    code = "bad_size"


class BadFitError(InvalidOptionError):
    """Raised when the fit mode is not contain, cover or stretch."""

    code = "bad_fit"


class BadNameError(InvalidOptionError):
    """Raised when a job's output name is not a plain file stem."""

    code = "bad_name"


class BadSourceError(InvalidOptionError):
    """Raised when a job's source folder is missing, malformed or outside the input root."""

    code = "bad_source"


class BadWebhookUrlError(InvalidOptionError):
    """Raised when a webhook_url is not an http(s) URL with a host, or leads to an address
    the service does not call (loopback, private, link-local: img2vid/webhook_url.py)."""

    code = "bad_webhook_url"


class WebhookHostUnresolvedError(BadWebhookUrlError):
    """Raised when a webhook_url's host does not resolve: refused at submit, tried again
    later at a delivery (DNS may be down for a moment)."""


class WebhooksDisabledError(InvalidOptionError):
    """Raised when a job names a webhook_url but the service has no webhook secret
    (IMG2VID_WEBHOOK_SECRET) to sign deliveries with."""

    code = "webhooks_disabled"


class BadOutputNameError(InvalidOptionError):
    """Raised when the output's file extension does not suit the codec."""

    code = "bad_output_name"


# --- the frames ---------------------------------------------------------------------


class NoFramesError(Img2VidError):
    """Raised when the source holds no image that could be encoded."""

    code = "no_frames"


class FrameError(Img2VidError):
    """Raised when one frame cannot be used; ``path`` names it."""

    code = "bad_frame"


class UnreadableFrameError(FrameError):
    """Raised when a frame file is unreadable, truncated or not a decodable image."""

    code = "unreadable_frame"


class FrameTooLargeError(FrameError):
    """Raised when a frame has more pixels than the limit (checked before decoding)."""

    code = "frame_too_large"


# --- the output ---------------------------------------------------------------------


class OutputUnwritableError(Img2VidError):
    """Raised when the output folder is missing or not writable."""

    code = "output_unwritable"


class OutputExistsError(Img2VidError):
    """Raised when the output file exists and overwriting was not asked for."""

    code = "output_exists"


class EncoderError(Img2VidError):
    """Raised when the video encoder refuses to open or to take a frame."""

    code = "encoder_failed"


class VerifyFailedError(Img2VidError):
    """Raised when the written video, read back, does not hold every frame written."""

    code = "verify_failed"


class CancelledError(Img2VidError):
    """Raised when the caller's cancel check asked the encode to stop."""

    code = "cancelled"


class TimeLimitError(Img2VidError):
    """Raised when a job runs past its time limit (IMG2VID_TASK_TIME_LIMIT); it is not run again."""

    code = "time_limit_exceeded"


# --- the operator's settings ----------------------------------------------------------


class ConfigError(Img2VidError):
    """Raised when a setting from the environment is not valid; the message names the variable."""

    code = "bad_setting"


# --- the job service ----------------------------------------------------------------


class ServiceError(Img2VidError):
    """Raised when the job service refuses a request; ``status`` is its HTTP status."""

    code = "service_error"
    status = 400


class JobNotFoundError(ServiceError):
    """Raised when no job has the given id (never created, deleted or expired)."""

    code = "job_not_found"
    status = 404


class JobStateError(ServiceError):
    """Raised when a job is in the wrong state for what was asked (delete a running job)."""

    code = "job_state"
    status = 409


class IdempotencyKeyReusedError(ServiceError):
    """Raised when an Idempotency-Key comes back with a different request."""

    code = "idempotency_key_reused"
    status = 422


class TooLargeError(ServiceError):
    """Raised when a request, an archive or a job is over one of the limits."""

    code = "too_large"
    status = 413


class BadUploadError(ServiceError):
    """Raised when an upload is malformed: no files, a bad archive member, a wrong field."""

    code = "bad_upload"


class UnsupportedMediaTypeError(ServiceError):
    """Raised when a request body is neither JSON nor a multipart upload."""

    code = "unsupported_media_type"
    status = 415


class CrossSiteError(ServiceError):
    """Raised when a change comes from another site's page (a foreign Origin) without a token."""

    code = "cross_site_request"
    status = 403


class StorageFullError(ServiceError):
    """Raised when the data volume has no room left for an upload."""

    code = "storage_full"
    status = 507


class UnavailableError(ServiceError):
    """Raised when Redis (the queue and job store) cannot be reached."""

    code = "redis_unavailable"
    status = 503


class StorageUnavailableError(ServiceError):
    """Raised when the object store cannot be reached, or its bucket does not exist."""

    code = "storage_unavailable"
    status = 503


class StorageDeniedError(ServiceError):
    """Raised when the object store refuses the service's credentials for its bucket."""

    code = "storage_denied"
    status = 503


# --- refusals from the models' validators --------------------------------------------


def invalid(code: str, message: str) -> PydanticCustomError:
    """What a model's validator raises to refuse a value with one of the codes above;
    ``from_validation`` makes it that code's error at the edge. The message goes in
    as context, so that braces in a client's value are never read as a template."""
    return PydanticCustomError(code, "{message}", {"message": message})


def _by_code(cls: type[Img2VidError] = Img2VidError) -> dict[str, type[Img2VidError]]:
    found = {cls.code: cls}
    for sub in cls.__subclasses__():
        for code, klass in _by_code(sub).items():
            found.setdefault(code, klass)
    return found


def from_validation(exc: ValidationError, default: type[Img2VidError] = InvalidOptionError) -> Img2VidError:
    """The first refusal of a ValidationError as the error its code names. A refusal of
    pydantic's own (a wrong type that no validator of ours saw) becomes ``default``."""
    first = exc.errors(include_url=False)[0]
    code = first["type"]
    if isinstance(first.get("ctx"), dict) and "message" in first["ctx"]:
        message = str(first["ctx"]["message"])
        cls = _by_code().get(code)
        return cls(message) if cls is not None else default(message, code=code)
    where = ".".join(str(part) for part in first["loc"])
    return default(f"{where}: {first['msg']}" if where else first["msg"])
