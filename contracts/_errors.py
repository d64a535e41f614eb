"""One error model for the whole hub.

Every failure a caller can see is a :class:`ContractError` with a code from a closed set::

    HubError (exception; carries .error: ContractError)
     ├─ invalid_input       the request breaks the contract (400); nothing was sent to an agency
     ├─ not_found           the agency has no such record (404)
     ├─ unauthorized        the caller is not authenticated (401)
     ├─ forbidden           the caller may not call this operation (403)
     ├─ conflict            the request clashes with earlier state (409)
     ├─ rate_limited        the caller is over its request quota (429, retryable)
     ├─ agency_unavailable  the agency cannot be reached or refuses service for now (503, retryable)
     ├─ agency_timeout      the agency did not answer in time (504, retryable)
     ├─ agency_error        the agency answered with a failure or garbage (502)
     └─ internal            a fault in the hub itself (500)

Plugins translate every agency failure to one of these at a single boundary, so nothing
unmapped (and no ``repr`` carrying personal data) ever reaches the bus.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["ContractError", "ErrorCode", "FieldIssue", "HubError"]


class ErrorCode(StrEnum):
    """The closed set of contract error codes, each with its HTTP status (see the module's table)."""

    INVALID_INPUT = "invalid_input"
    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    AGENCY_UNAVAILABLE = "agency_unavailable"
    AGENCY_TIMEOUT = "agency_timeout"
    AGENCY_ERROR = "agency_error"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"

    @property
    def http_status(self) -> int:
        """The HTTP status the edge answers this code with."""
        return _HTTP_STATUS[self]

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later without change (the default for the code)."""
        return self in (ErrorCode.AGENCY_UNAVAILABLE, ErrorCode.AGENCY_TIMEOUT, ErrorCode.RATE_LIMITED)


_HTTP_STATUS = {
    ErrorCode.INVALID_INPUT: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.AGENCY_ERROR: 502,
    ErrorCode.AGENCY_UNAVAILABLE: 503,
    ErrorCode.AGENCY_TIMEOUT: 504,
}


class FieldIssue(BaseModel):
    """One problem with one input field (never echoes the value, which may be personal data)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(description="Dotted path of the field, e.g. 'nik' or 'address.rt'.")
    message: str = Field(description="What is wrong with it and what a valid value looks like.")


class ContractError(BaseModel):
    """What went wrong, in words a person can act on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: ErrorCode = Field(description="What kind of failure: the closed set of contract error codes.")
    message: str = Field(description="What happened and what to do about it; contains no personal data.")
    agency: str | None = Field(default=None, description="The agency involved, if any.")
    retryable: bool = Field(description="Whether repeating the same request later can succeed.")
    retry_after: float | None = Field(default=None, description="Seconds to wait before a retry, if known.")
    site: str | None = Field(
        default=None,
        description="Set when a site (a service van, a kiosk) answered because it cannot reach the hub now "
        "(code agency_unavailable): the site's name. What it took in is kept there and processed once it can.",
    )
    issues: list[FieldIssue] = Field(default_factory=list, description="Per-field problems (invalid_input).")
    correlation_id: str | None = Field(default=None, description="The request's correlation id, to quote in a report.")


class HubError(Exception):
    """Raised anywhere in the hub or a plugin; carries the contract error the caller will see."""

    def __init__(self, error: ContractError) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error

    @property
    def code(self) -> ErrorCode:
        return self.error.code

    @classmethod
    def of(
        cls,
        code: ErrorCode,
        message: str,
        *,
        agency: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        issues: list[FieldIssue] | None = None,
        site: str | None = None,
    ) -> Self:
        return cls(
            ContractError(
                code=code,
                message=message,
                agency=agency,
                retryable=code.retryable if retryable is None else retryable,
                retry_after=retry_after,
                issues=issues or [],
                site=site,
            )
        )

    @classmethod
    def from_validation(cls, exc: ValidationError, what: str) -> Self:
        """``invalid_input`` naming each bad field, without echoing the submitted values."""
        issues = [
            FieldIssue(field=".".join(str(p) for p in err["loc"]) or "(body)", message=_describe(err))
            for err in exc.errors(include_input=False, include_url=False)
        ]
        summary = "; ".join(f"{i.field}: {i.message}" for i in issues)
        return cls.of(ErrorCode.INVALID_INPUT, f"Invalid {what}: {summary}", issues=issues)


def _describe(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "is not a known field (check the spelling)"
    if err["type"] == "missing":
        return "is required"
    return str(err["msg"])
