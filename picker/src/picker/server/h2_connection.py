"""The picker's HTTP/2 connection state machine: h2's ``H2Connection`` with a bounded closed-stream memory.

h2 remembers how each closed stream ended, to treat late frames on it correctly, up to
``MAX_CLOSED_STREAMS`` per connection (default 65,536, ~90 bytes each). Envoy opens one stream per HTTP
request on a long-lived connection, so at the default the picker's memory grew ~6 MB per connection over
its first 65,536 requests (seen in the 10-minute soak). Late frames arrive within milliseconds of a close;
a few thousand streams of history cover that at any rate the picker serves, and a frame for a stream no
longer remembered gets RST_STREAM, not a connection error.

Not changed here, though it costs 5-7% of the transport's CPU per request: h2 4.x formats ``repr(frame)``
for its trace log on every received frame before the (disabled) logger discards it. Skipping it would mean
re-implementing h2's private ``_receive_frame``; that belongs in h2 itself
(docs/benchmarks/records/2026-12-07-picker-one-in-flight-2.md).
"""

from __future__ import annotations

from h2.connection import H2Connection


class PickerH2Connection(H2Connection):
    """``H2Connection`` remembering at most ``MAX_CLOSED_STREAMS`` closed streams."""

    MAX_CLOSED_STREAMS = 4096
