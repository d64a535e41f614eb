"""What every router of the HTTP edge shares: the hub and the edge's bus link behind it, the door, the error
responses OpenAPI documents, and the headers it documents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header
from pydantic import WithJsonSchema

from contracts import ContractError, ErrorCode, HubError
from hub._checkpointer import Checkpointer
from hub._client import HubClient
from hub._door import CORRELATION_HEADER, Door
from hub._edge import EdgeBus
from hub._headers import header_schema
from hub._process import ProcessEngine
from hub._runtime import Hub

__all__ = [
    "ERRORS",
    "AuthHeader",
    "ChannelHeader",
    "ConsentHeader",
    "CorrelationHeader",
    "EdgeContext",
    "OfficerHeader",
    "PurposeHeader",
]

#: Every contract error a route may answer, for OpenAPI (invalid input as 400, not FastAPI's 422).
ERRORS: dict[int | str, dict[str, Any]] = {
    code.http_status: {"model": ContractError, "description": f"Contract error ({code.value})"}
    for code in ErrorCode
    if code is not ErrorCode.INVALID_INPUT
}
ERRORS[400] = {"model": ContractError, "description": "Contract error (invalid_input)"}

# Declared so that OpenAPI documents the headers; the values are read from the request itself (the door), which
# checks them (hub._headers). Each is published with what that check passes, but not validated by FastAPI: its
# refusal would echo the value and come before the door's 401.
AuthHeader = Annotated[str | None, Header(alias="Authorization", description="Bearer <api key>")]
PurposeHeader = Annotated[
    str | None,
    WithJsonSchema(header_schema("X-Purpose")),
    Header(alias="X-Purpose", description="Purpose of access (personal data): one of the hub's purpose codes"),
]
CorrelationHeader = Annotated[
    str | None,
    WithJsonSchema(header_schema(CORRELATION_HEADER)),
    Header(alias=CORRELATION_HEADER, description="Your request id"),
]
ChannelHeader = Annotated[
    str | None,
    WithJsonSchema(header_schema("X-Channel")),
    Header(alias="X-Channel", description="desk, portal, kiosk or mobile (audited; see consumer add)"),
]
OfficerHeader = Annotated[
    str | None,
    WithJsonSchema(header_schema("X-Officer")),
    Header(alias="X-Officer", description="The officer serving the citizen (consumers allowed to name one)"),
]
ConsentHeader = Annotated[
    str | None,
    WithJsonSchema(header_schema("X-Consent-Ref")),
    Header(alias="X-Consent-Ref", description="Reference of the citizen's consent"),
]


@dataclass(frozen=True)
class EdgeContext:
    """The edge's parts and settings, as every router is built from them."""

    hub: Hub
    edge: EdgeBus
    door: Door
    embedded_nats: bool
    request_timeout: float
    profile_budget: float
    audit_log: Checkpointer | None

    def client(self) -> HubClient:
        return self.edge.client(self.request_timeout)

    def engine(self) -> ProcessEngine:
        """The edge's process engine (it takes applications in); ``not_found`` on a hub that runs no process."""
        if not self.hub.plugins.processes:
            raise HubError.of(ErrorCode.NOT_FOUND, "This hub runs no application process")
        return self.edge.engine
