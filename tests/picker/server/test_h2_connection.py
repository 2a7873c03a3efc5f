"""PickerH2Connection: h2's connection with a bounded closed-stream history."""

from __future__ import annotations

from h2.config import H2Configuration
from h2.connection import H2Connection
from picker.server.h2_connection import PickerH2Connection

REQUEST = [(":method", "POST"), (":scheme", "http"), (":path", "/p"), (":authority", "picker")]


def connected(server: H2Connection) -> H2Connection:
    client = H2Connection(config=H2Configuration(client_side=True))
    server.initiate_connection()
    client.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    return client


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
