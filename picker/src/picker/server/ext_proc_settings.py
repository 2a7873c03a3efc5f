"""How the ext_proc servicer talks to a data plane that does not announce its processing mode."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from picker.gateway_protocol import MAX_BODY_CHUNK_BYTES
from picker.server.envoy_requests import BodyMode


class ExtProcSettings(BaseModel):
    """How the servicer talks to the data plane when Envoy does not announce its processing mode.

    Envoy >= 1.34 announces the body modes on each stream (``protocol_config``); these defaults only
    apply to data planes that do not.
    """

    model_config = ConfigDict(frozen=True)

    request_body_mode: BodyMode = Field(
        BodyMode.FULL_DUPLEX_STREAMED, description="FULL_DUPLEX_STREAMED (the EPP's mode) or BUFFERED."
    )
    response_body_mode: BodyMode = Field(BodyMode.FULL_DUPLEX_STREAMED, description="Any BodySendMode.")
    body_chunk_bytes: int = Field(
        MAX_BODY_CHUNK_BYTES, gt=0, le=65_536, description="Largest streamed body chunk sent to Envoy."
    )
