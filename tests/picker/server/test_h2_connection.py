"""PickerH2Connection: h2's connection with a bounded closed-stream history and no per-frame trace formatting,
answering every frame exactly as h2's own class does."""

from __future__ import annotations

import hashlib
import inspect

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from hyperframe.frame import DataFrame, Frame
from picker.server.h2_connection import UPSTREAM_RECEIVE_FRAME_SHA256, PickerH2Connection

REQUEST = [(":method", "POST"), (":scheme", "http"), (":path", "/p"), (":authority", "picker")]


def connected(server: H2Connection) -> H2Connection:
    client = H2Connection(config=H2Configuration(client_side=True))
    server.initiate_connection()
    client.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    return client


def test_the_installed_h2_receive_frame_is_the_one_the_override_repeats():
    # The override copies h2's private method minus its trace line. A different h2 (a fix, a new branch)
    # must be read and the override re-taken before the pin in picker/pyproject.toml is widened.
    source = inspect.getsource(H2Connection._receive_frame)
    assert hashlib.sha256(source.encode()).hexdigest() == UPSTREAM_RECEIVE_FRAME_SHA256, (
        "h2's H2Connection._receive_frame changed: compare it with PickerH2Connection._receive_frame "
        "(picker/server/h2_connection.py), update the override and its digest"
    )


@pytest.mark.parametrize("connection_class", [H2Connection, PickerH2Connection])
def test_received_frames_are_formatted_only_by_h2s_own_class(connection_class, monkeypatch):
    formatted: list[str] = []
    real_repr = Frame.__repr__

    def counting_repr(frame: Frame) -> str:
        formatted.append(type(frame).__name__)
        return real_repr(frame)

    server = connection_class(config=H2Configuration(client_side=False))
    client = connected(server)
    monkeypatch.setattr(Frame, "__repr__", counting_repr)
    stream_id = client.get_next_available_stream_id()
    client.send_headers(stream_id, REQUEST)
    client.send_data(stream_id, b"x" * 100, end_stream=True)
    server.receive_data(client.data_to_send())
    if connection_class is H2Connection:
        assert {"HeadersFrame", "DataFrame"} <= set(formatted)  # what the override saves, once per frame
    else:
        assert formatted == []


def _late_frames_exchange(server: H2Connection) -> list[object]:
    """A request, a reset stream that still receives DATA, DATA for a stream closed by END_STREAM, and a
    stream ID below one already used (the override's error branches); what the server sends and reports."""
    client = connected(server)
    transcript: list[object] = []
    first = client.get_next_available_stream_id()
    client.send_headers(first, REQUEST)
    client.send_data(first, b"body", end_stream=True)
    transcript.append([repr(event) for event in server.receive_data(client.data_to_send())])
    server.send_headers(first, [(":status", "200")], end_stream=True)
    transcript.append(server.data_to_send())
    client.receive_data(transcript[-1])  # type: ignore[arg-type]

    second = client.get_next_available_stream_id()
    client.send_headers(second, REQUEST)
    server.receive_data(client.data_to_send())
    server.reset_stream(second)
    server.data_to_send()
    late = DataFrame(second, data=b"late")
    transcript.append([repr(event) for event in server.receive_data(late.serialize())])
    transcript.append(server.data_to_send())  # RST_STREAM: a stream error

    for frame in (DataFrame(first, data=b"late"), DataFrame(second - 1 if second > 2 else 2, data=b"x")):
        try:
            transcript.append([repr(event) for event in server.receive_data(frame.serialize())])
        except Exception as error:  # a connection error: which one, and the GOAWAY it prepared
            transcript.append(type(error).__name__)
        transcript.append(server.data_to_send())
    return transcript


def test_late_frames_get_the_same_answers_as_from_h2s_own_class():
    class SameHistoryH2Connection(H2Connection):
        MAX_CLOSED_STREAMS = PickerH2Connection.MAX_CLOSED_STREAMS

    expected = _late_frames_exchange(SameHistoryH2Connection(config=H2Configuration(client_side=False)))
    assert expected[3]  # the reset stream's late DATA was answered
    assert _late_frames_exchange(PickerH2Connection(config=H2Configuration(client_side=False))) == expected


def test_the_picker_connection_remembers_a_bounded_number_of_closed_streams():
    # h2 keeps 65,536 closed streams per connection by default; Envoy opens one stream per request on a
    # long-lived connection, so that record grew the picker's memory for the first 65,536 requests.
    server = PickerH2Connection(config=H2Configuration(client_side=False))
    client = connected(server)
    streams = PickerH2Connection.MAX_CLOSED_STREAMS + 500
    for _ in range(streams):
        stream_id = client.get_next_available_stream_id()
        client.send_headers(stream_id, REQUEST, end_stream=True)
        server.receive_data(client.data_to_send())
        server.send_headers(stream_id, [(":status", "200")], end_stream=True)
        client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())  # h2 files closed streams when it next counts open ones
    assert server.open_inbound_streams == 0
    assert len(server._closed_streams) == PickerH2Connection.MAX_CLOSED_STREAMS
