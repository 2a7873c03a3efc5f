"""vLLM's ZMQ KV-event publisher: live batches on a PUB socket, past batches on request from a ROUTER.

Live frames are ``[topic, seq, payload]`` with ``seq`` an 8-byte big-endian counter from 0, one per batch.
A replay client (DEALER or REQ) sends the first sequence it wants as 8 bytes big-endian; the ROUTER answers
every buffered batch from there as ``[topic, seq, payload]`` and ends with ``[b"", END_SEQ, b""]``
(END_SEQ = -1 as a signed 8-byte big-endian integer), as current vLLM does. One thread owns both sockets;
``publish`` only encodes and queues, so the engine never waits on the network.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import zmq

from sim.engine.kv_cache_events import KVCacheEvent
from sim.kv_events.config import KVEventsConfig, binds
from sim.kv_events.encoding import KVEventEncoder

log = logging.getLogger(__name__)

END_SEQ = (-1).to_bytes(8, "big", signed=True)
_POLL_S = 0.01


class ZmqEventPublisher:
    """Start on construction, stop with ``close()`` (or use it as a context manager)."""

    def __init__(
        self,
        config: KVEventsConfig,
        encoder: KVEventEncoder,
        wall_clock: Callable[[], float] = time.time,
        data_parallel_rank: int = 0,
    ) -> None:
        self._encoder = encoder
        self._wall_clock = wall_clock
        self._rank = data_parallel_rank
        self._topic = config.topic.encode("utf-8")
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=config.max_queue_size)
        self._buffer: deque[tuple[int, bytes]] = deque(maxlen=config.buffer_steps)
        self._next_seq = 0
        self.dropped_batches = 0
        self._context = zmq.Context()
        self._replay: zmq.Socket[bytes] | None = None
        try:
            self._pub: zmq.Socket[bytes] = self._context.socket(zmq.PUB)
            self._pub.setsockopt(zmq.SNDHWM, config.hwm)
            self._pub.setsockopt(zmq.LINGER, 0)
            if binds(config.endpoint):
                self._pub.bind(config.endpoint)
                self.endpoint = self._pub.getsockopt_string(zmq.LAST_ENDPOINT)
            else:
                self._pub.connect(config.endpoint)
                self.endpoint = config.endpoint
            self.replay_endpoint: str | None = None
            if config.replay_endpoint is not None:
                self._replay = self._context.socket(zmq.ROUTER)
                self._replay.setsockopt(zmq.LINGER, 0)
                self._replay.bind(config.replay_endpoint)
                self.replay_endpoint = self._replay.getsockopt_string(zmq.LAST_ENDPOINT)
        except zmq.ZMQError:
            self._context.destroy(linger=0)
            raise
        self._running = True
        self._thread = threading.Thread(target=self._run, name="kv-events-publisher", daemon=True)
        self._thread.start()

    def publish(self, events: Sequence[KVCacheEvent]) -> None:
        """Queue one batch (one engine step's events); a full queue drops it, as vLLM does."""
        if not events:
            return
        payload = self._encoder.encode_batch(self._wall_clock(), events, self._rank)
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.dropped_batches += 1
            log.warning("KV event queue full (max_queue_size); dropped a batch of %d events", len(events))

    def close(self) -> None:
        """Send what is queued, then close both sockets."""
        if not self._running:
            return
        self._running = False
        self._thread.join(timeout=5)
        self._context.destroy(linger=0)

    def __enter__(self) -> ZmqEventPublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        while self._running or not self._queue.empty():
            try:
                self._serve_replay()
                try:
                    payload = self._queue.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                seq = self._next_seq
                self._next_seq += 1
                self._buffer.append((seq, payload))
                self._pub.send_multipart((self._topic, seq.to_bytes(8, "big"), payload))
            except zmq.ZMQError as err:  # keep publishing: one failed send must not silence the replica
                log.warning("KV event publisher: %s", err)

    def _serve_replay(self) -> None:
        replay = self._replay
        if replay is None:
            return
        while replay.poll(0):
            frames = replay.recv_multipart()
            if len(frames) != 3 or len(frames[2]) != 8:
                log.warning(
                    "Invalid replay request: %d frames; expected [identity, b'', start_seq]", len(frames)
                )
                continue
            identity = frames[0]
            start_seq = int.from_bytes(frames[2], "big")
            for seq, payload in list(self._buffer):
                if seq >= start_seq:
                    replay.send_multipart((identity, b"", self._topic, seq.to_bytes(8, "big"), payload))
            replay.send_multipart((identity, b"", b"", END_SEQ, b""))
