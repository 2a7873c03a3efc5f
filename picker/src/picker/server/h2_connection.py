"""The picker's HTTP/2 connection state machine: h2's ``H2Connection`` with two per-connection costs removed.

1. Closed-stream memory. h2 remembers how each closed stream ended, to treat late frames on it correctly,
   up to ``MAX_CLOSED_STREAMS`` per connection (default 65,536, ~90 bytes each). Envoy opens one stream per
   HTTP request on a long-lived connection, so at the default the picker's memory grew ~6 MB per connection
   over its first 65,536 requests (seen in the 10-minute soak). Late frames arrive within milliseconds of a
   close; a few thousand streams of history cover that at any rate the picker serves, and a frame for a
   stream no longer remembered gets RST_STREAM, not a connection error.
2. The trace line per received frame. h2 4.x's ``_receive_frame`` formats ``repr(frame)`` (flags, a hex dump
   of the payload) for its trace log before the logger, disabled by default, discards it: 4-5% of the
   transport's CPU per request (docs/benchmarks/records/2026-12-07-picker-one-in-flight-2.md). The override
   below is that method without the trace line, for the h2 versions picker/pyproject.toml allows;
   tests/picker/server/test_h2_connection.py fails when the installed h2's method differs from the one this
   copy was taken from, so an h2 upgrade is re-checked rather than silently diverging.
"""

from __future__ import annotations

from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import Event
from h2.exceptions import StreamClosedError, StreamIDTooLowError
from hyperframe.frame import Frame, RstStreamFrame

# sha256 of ``inspect.getsource(h2.connection.H2Connection._receive_frame)`` in h2 4.4.1, the method
# ``PickerH2Connection._receive_frame`` repeats without its trace line.
UPSTREAM_RECEIVE_FRAME_SHA256 = "39b2e16b4fd74ed014ca144a0c6e388aef3dc51f116d6f0a874b70d92bd92873"


class PickerH2Connection(H2Connection):
    """``H2Connection`` with a bounded closed-stream history and no per-frame trace formatting."""

    MAX_CLOSED_STREAMS = 4096

    def _receive_frame(self, frame: Frame) -> list[Event]:
        # h2 4.4.1's method minus ``self.config.logger.trace("Received frame: %s", repr(frame))``.
        events: list[Event]
        try:
            frames, events = self._frame_dispatch_table[frame.__class__](frame)
        except StreamClosedError as error:
            # A stream closed by RST_STREAM: answer with RST_STREAM (a stream error); otherwise a
            # connection error.
            if not self._stream_is_closed_by_reset(error.stream_id):
                raise
            reset = RstStreamFrame(error.stream_id)
            reset.error_code = error.error_code
            self._prepare_for_sending([reset])
            events = error._events
        except StreamIDTooLowError as error:
            # A frame for a stream already cleaned up or implicitly closed: a stream error if RST_STREAM
            # closed it, a connection error if END_STREAM did (StreamClosedError) or it closed implicitly.
            if self._stream_is_closed_by_reset(error.stream_id):
                reset = RstStreamFrame(error.stream_id)
                reset.error_code = ErrorCodes.STREAM_CLOSED
                self._prepare_for_sending([reset])
                events = []
            elif self._stream_is_closed_by_end(error.stream_id):
                raise StreamClosedError(error.stream_id) from error
            else:
                raise
        else:
            self._prepare_for_sending(frames)
        return events
