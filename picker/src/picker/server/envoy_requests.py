"""Pure readers for incoming ext_proc ``ProcessingRequest`` messages: headers, the subset hint, the
served endpoint and the body modes Envoy announces. No state, no I/O."""

from __future__ import annotations

import enum

from envoy.config.core.v3.base_pb2 import HeaderMap, HeaderValue, Metadata
from envoy.service.ext_proc.v3.external_processor_pb2 import ProcessingRequest
from google.protobuf.unknown_fields import UnknownFieldSet

from picker.gateway_protocol import (
    SERVED_ENDPOINT_KEY,
    SERVED_ENDPOINT_NAMESPACE,
    SUBSET_HINT_KEY,
    SUBSET_HINT_NAMESPACE,
)


class BodyMode(enum.IntEnum):
    """``ProcessingMode.BodySendMode`` values (same numbers as the proto enum)."""

    NONE = 0
    STREAMED = 1
    BUFFERED = 2
    BUFFERED_PARTIAL = 3
    FULL_DUPLEX_STREAMED = 4


# ProcessingRequest.protocol_config (field 11, Envoy >= 1.34) is newer than the xds-protos release
# that fits pulumi-policy's protobuf pin, so it arrives as an unknown field and is decoded by hand.
_PROTOCOL_CONFIG_FIELD = 11
_REQUEST_BODY_MODE_FIELD = 1
_RESPONSE_BODY_MODE_FIELD = 2
_WIRE_VARINT = 0
_WIRE_LENGTH_DELIMITED = 2


def _header_value(header: HeaderValue) -> str:
    raw_value = header.raw_value  # Envoy sends raw_value; value is the legacy field
    return raw_value.decode("utf-8", "replace") if raw_value else str(header.value)


def header_map_to_dict(header_map: HeaderMap) -> dict[str, str]:
    """Lower-cased name -> value; repeated names are joined with ``,`` as HTTP allows."""
    headers: dict[str, str] = {}
    for header in header_map.headers:
        raw_value = header.raw_value  # inlined _header_value: this loop runs for every request header
        value = raw_value.decode("utf-8", "replace") if raw_value else header.value
        name = header.key.lower()
        if name in headers:
            headers[name] = f"{headers[name]},{value}"
        else:
            headers[name] = value
    return headers


def response_status_and_content_type(header_map: HeaderMap) -> tuple[str, str]:
    """(``:status``, ``content-type``) of a response without decoding the other headers; status defaults
    to ``200`` and content type to ``""`` when absent."""
    status, content_type = "", ""
    for header in header_map.headers:
        key = header.key.lower()
        if key == ":status" or (key == "status" and not status):
            status = _header_value(header)
        elif key == "content-type":
            content_type = _header_value(header)
    return status or "200", content_type


def _metadata_field(metadata: Metadata, namespace: str, key: str) -> object | None:
    if namespace not in metadata.filter_metadata:
        return None
    fields = metadata.filter_metadata[namespace].fields
    if key not in fields:
        return None
    value = fields[key]
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return str(value.string_value)
    if kind == "list_value":
        return [item.string_value for item in value.list_value.values if item.HasField("string_value")]
    return None


def subset_hint(request: ProcessingRequest) -> tuple[str, ...] | None:
    """The data plane's candidate restriction: None when absent, a (possibly empty) tuple when present.

    A comma-separated string is accepted too, since some data planes flatten the list.
    """
    value = _metadata_field(request.metadata_context, SUBSET_HINT_NAMESPACE, SUBSET_HINT_KEY)
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    assert isinstance(value, list)
    return tuple(value)


def served_endpoint(request: ProcessingRequest) -> str | None:
    """``envoy.lb`` / ``x-gateway-destination-endpoint-served`` when the data plane reports it."""
    value = _metadata_field(request.metadata_context, SERVED_ENDPOINT_NAMESPACE, SERVED_ENDPOINT_KEY)
    return value if isinstance(value, str) and value else None


def _varint_fields(payload: bytes) -> dict[int, int]:
    """Top-level varint fields of a serialised message (other wire types are skipped)."""
    fields: dict[int, int] = {}
    position = 0

    def read_varint() -> int:
        nonlocal position
        result = shift = 0
        while True:
            byte = payload[position]
            position += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while position < len(payload):
        tag = read_varint()
        field_number, wire_type = tag >> 3, tag & 0x7
        if wire_type == _WIRE_VARINT:
            fields[field_number] = read_varint()
        elif wire_type == _WIRE_LENGTH_DELIMITED:
            position += read_varint()
        elif wire_type == 1:
            position += 8
        elif wire_type == 5:
            position += 4
        else:
            break
    return fields


def announced_body_modes(request: ProcessingRequest) -> tuple[BodyMode, BodyMode] | None:
    """(request, response) body modes from ``protocol_config``, which Envoy sends on a stream's first
    message; None when the data plane does not send it."""
    for field in UnknownFieldSet(request):
        if field.field_number == _PROTOCOL_CONFIG_FIELD and field.wire_type == _WIRE_LENGTH_DELIMITED:
            try:
                values = _varint_fields(field.data)
                return (
                    BodyMode(values.get(_REQUEST_BODY_MODE_FIELD, 0)),
                    BodyMode(values.get(_RESPONSE_BODY_MODE_FIELD, 0)),
                )
            except (IndexError, ValueError):
                return None
    return None
