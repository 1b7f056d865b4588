"""One error hierarchy for everything a client can be told.

::

    ApiError                      (code, http_status, message; never framework exceptions)
     ├── BadRequest               400  invalid_request / invalid_field
     ├── Unauthorized             401  unauthorized
     ├── Forbidden                403  forbidden / room_archived / user_deactivated
     │    └── TwoFactorEnrolmentRequired  two_factor_enrolment_required
     ├── NotFound                 404  not_found (also for objects the caller may not see)
     ├── Conflict                 409  conflict / name_taken
     ├── PayloadTooLarge          413  too_large
     ├── UnsupportedMediaType     415  unsupported_media_type
     └── RateLimited              429  rate_limited (carries retry_after seconds)

Deep layers raise these; the transport turns them into ``{"error": {...}}`` bodies.
Messages are fixed strings chosen by the server; they never echo client input, SQL,
paths or secrets.
"""

from __future__ import annotations

import enum
import math
from typing import ClassVar

from typing_extensions import override

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "ErrorCode",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceUnavailable",
    "TwoFactorEnrolmentRequired",
    "Unauthorized",
    "UnsupportedMediaType",
]


class ErrorCode(enum.StrEnum):
    INVALID_REQUEST = "invalid_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    ROOM_ARCHIVED = "room_archived"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    NAME_TAKEN = "name_taken"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    SCHEMA_OUTDATED = "schema_outdated"
    UNAVAILABLE = "unavailable"
    TWO_FACTOR_ENROLMENT_REQUIRED = "two_factor_enrolment_required"


class ApiError(Exception):
    """Base of every error a client may see."""

    http_status: ClassVar[int] = 400
    default_code: ClassVar[ErrorCode] = ErrorCode.INVALID_REQUEST
    default_message: ClassVar[str] = "The request is invalid."

    def __init__(self, message: str | None = None, *, code: ErrorCode | None = None) -> None:
        self.code = code or self.default_code
        self.message = message or self.default_message
        super().__init__(self.message)

    def to_body(self) -> dict[str, dict[str, object]]:
        return {"error": {"code": self.code.value, "message": self.message}}


class BadRequest(ApiError):
    http_status = 400


class Unauthorized(ApiError):
    http_status = 401
    default_code = ErrorCode.UNAUTHORIZED
    default_message = "Authentication required."


class Forbidden(ApiError):
    http_status = 403
    default_code = ErrorCode.FORBIDDEN
    default_message = "You are not allowed to do that."


class TwoFactorEnrolmentRequired(Forbidden):
    """An enrol-only session (its role requires a second factor it hasn't set up yet)
    asked for something other than signing out or setting one up."""

    default_code = ErrorCode.TWO_FACTOR_ENROLMENT_REQUIRED
    default_message = "Set up two-factor authentication to continue."


class NotFound(ApiError):
    http_status = 404
    default_code = ErrorCode.NOT_FOUND
    default_message = "Not found."


class Conflict(ApiError):
    http_status = 409
    default_code = ErrorCode.CONFLICT
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(ApiError):
    http_status = 413
    default_code = ErrorCode.TOO_LARGE
    default_message = "The request is too large."


class UnsupportedMediaType(ApiError):
    http_status = 415
    default_code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    default_message = "Unsupported content type."


class ServiceUnavailable(ApiError):
    """Something Redoubt depends on (say, the LDAP directory) can't answer right now."""

    http_status = 503
    default_code = ErrorCode.UNAVAILABLE
    default_message = "A service Redoubt depends on is unavailable; try again shortly."


class RateLimited(ApiError):
    http_status = 429
    default_code = ErrorCode.RATE_LIMITED
    default_message = "Too many requests; slow down."

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))

    @override
    def to_body(self) -> dict[str, dict[str, object]]:
        body = super().to_body()
        body["error"]["retry_after"] = self.retry_after
        return body
