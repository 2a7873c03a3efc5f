"""ZMQ subscriptions to model servers' KV events, in llm-d's two modes.

- ``dial`` (llm-d pod discovery): one SUB per endpoint, connected to ``tcp://<ip>:<socketPort + rank>``
  (``rank`` from the EPP's endpoint name ``<pod>-rank-<i>``, as vLLM offsets data-parallel ranks' ports);
  the servers' PUB sockets bind (``"endpoint": "tcp://*:5557"``). A socket monitor notices a publisher that
  disconnects; its entries are dropped until it publishes again.
- ``bind`` (llm-d ``zmqEndpoint``): one SUB bound at ``bind_endpoint``; servers connect their PUB to it
  and name themselves in the topic ``kv@<ip:port>@<model>``.

Either way a sequence gap (or a first message after events were missed) is filled from the server's replay
ROUTER at ``tcp://<ip>:<replaySocketPort + rank>`` when that port is set, at most once per cooldown per
endpoint; in dial mode each new subscription also replays from 0 at once (llm-d's proactive replay), so a
restarted picker knows what the servers cached before it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from picker.framework.types import Endpoint
from picker.kvevents.indexer import REPLAY_FAILED, UNKNOWN_ENDPOINT, KVEventIndexer, ParsedMessage

logger = logging.getLogger(__name__)

END_SEQ = (-1).to_bytes(8, "big", signed=True)
_RANK_SUFFIX = re.compile(r"-rank-(\d+)$")


@dataclass(frozen=True, slots=True)
class SubscriberSettings:
    bind_endpoint: str | None  # set: bind mode; None: dial every endpoint
    socket_port: int
    replay_socket_port: int  # 0: no replay
    # Both from KVEventsConfig (replayTimeout, replayCooldown), where their defaults are defined.
    replay_timeout_s: float
    replay_cooldown_s: float


class KVEventSubscriber:
    """Owns every ZMQ socket of the precise prefix scorer; ``run()`` until cancelled."""

    def __init__(
        self, indexer: KVEventIndexer, settings: SubscriberSettings, now: Callable[[], float]
    ) -> None:
        self._indexer = indexer
        self._settings = settings
        self._now = now
        self._endpoints: dict[str, Endpoint] = {}
        self._name_by_hostport: dict[str, str] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._last_replay_s: dict[str, float] = {}
        self._context: zmq.asyncio.Context | None = None
        self._running = False
        self.bound_endpoint: str | None = None  # bind mode: the address actually bound

    # -- membership -------------------------------------------------------------------------------
    def endpoint_added(self, endpoint: Endpoint) -> None:
        self.endpoint_removed(endpoint.name)
        self._endpoints[endpoint.name] = endpoint
        self._name_by_hostport[endpoint.hostport] = endpoint.name
        if self._running and self._settings.bind_endpoint is None:
            self._start_follower(endpoint)

    def endpoint_removed(self, name: str) -> None:
        endpoint = self._endpoints.pop(name, None)
        if endpoint is not None:
            self._name_by_hostport.pop(endpoint.hostport, None)
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
        self._last_replay_s.pop(name, None)
        self._indexer.forget(name)

    # -- lifecycle --------------------------------------------------------------------------------
    async def run(self) -> None:
        self._context = zmq.asyncio.Context()
        self._running = True
        try:
            if self._settings.bind_endpoint is not None:
                await self._listen(self._settings.bind_endpoint)
            else:
                for endpoint in list(self._endpoints.values()):
                    self._start_follower(endpoint)
                await asyncio.Event().wait()
        finally:
            self._running = False
            tasks = list(self._tasks.values())
            self._tasks.clear()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._context.destroy(linger=0)
            self._context = None

    # -- dial mode --------------------------------------------------------------------------------
    def _start_follower(self, endpoint: Endpoint) -> None:
        self._tasks[endpoint.name] = asyncio.get_running_loop().create_task(
            self._follow(endpoint), name=f"kv-events:{endpoint.name}"
        )

    async def _follow(self, endpoint: Endpoint) -> None:
        assert self._context is not None
        socket = self._context.socket(zmq.SUB)
        monitor = socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        try:
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.IPV6, 1)
            socket.setsockopt(zmq.SUBSCRIBE, b"")  # filter in code, so a wrong topic is seen and counted
            socket.connect(_tcp(endpoint.address, self._settings.socket_port + _rank(endpoint.name)))
            if self._settings.replay_socket_port > 0:
                # What the server cached before this subscription (a picker restart): replay from 0 now
                # instead of waiting for its next batch. Live batches queue meanwhile; replayed ones dedupe.
                await self._replay(endpoint.name, endpoint, 0, None)
            poller = zmq.asyncio.Poller()
            poller.register(socket, zmq.POLLIN)
            poller.register(monitor, zmq.POLLIN)
            while True:
                ready = dict(await poller.poll())
                if monitor in ready:
                    parse_monitor_message(await monitor.recv_multipart())
                    self._indexer.publisher_lost(endpoint.name)
                if socket in ready:
                    message = self._indexer.parse(await socket.recv_multipart())
                    if message is not None:
                        await self._handle(endpoint.name, endpoint, message)
        except asyncio.CancelledError:
            raise
        except Exception:  # never let one endpoint's stream end the picker
            logger.exception("KV-event subscription to %s failed; its entries are dropped", endpoint.name)
            self._indexer.publisher_lost(endpoint.name)
        finally:
            socket.disable_monitor()
            monitor.close(linger=0)
            socket.close(linger=0)

    # -- bind mode --------------------------------------------------------------------------------
    async def _listen(self, bind_endpoint: str) -> None:
        assert self._context is not None
        socket = self._context.socket(zmq.SUB)
        try:
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.SUBSCRIBE, b"")
            try:
                socket.bind(bind_endpoint)
            except zmq.ZMQError as error:
                raise OSError(
                    f"kvEventsConfig.zmqEndpoint {bind_endpoint!r}: cannot bind: {error}"
                ) from error
            self.bound_endpoint = socket.getsockopt_string(zmq.LAST_ENDPOINT)
            while True:
                message = self._indexer.parse(await socket.recv_multipart())
                if message is None:
                    continue
                parts = message.topic.split("@")
                name = self._name_by_hostport.get(parts[1]) if len(parts) == 3 else None
                if name is None:
                    self._indexer.report(
                        UNKNOWN_ENDPOINT,
                        f"topic {message.topic!r} names no pool endpoint; servers must publish "
                        "kv@<pod-ip>:<serving-port>@<model>",
                    )
                    continue
                await self._handle(name, self._endpoints[name], message)
        finally:
            socket.close(linger=0)

    # -- both -------------------------------------------------------------------------------------
    async def _handle(self, name: str, endpoint: Endpoint, message: ParsedMessage) -> None:
        start = self._indexer.replay_start(name, message.seq)
        if start is not None and self._may_replay(name):
            await self._replay(name, endpoint, start, message.seq)
        self._indexer.apply(name, message.seq, message.batch)

    def _may_replay(self, name: str) -> bool:
        if self._settings.replay_socket_port <= 0:
            return False
        now = self._now()
        last = self._last_replay_s.get(name)
        if last is not None and now - last < self._settings.replay_cooldown_s:
            return False
        self._last_replay_s[name] = now
        return True

    async def _replay(self, name: str, endpoint: Endpoint, start: int, before: int | None) -> None:
        """Apply batches [start, before) (``before`` None: all) from the server's replay buffer (2- or
        3-frame replies)."""
        assert self._context is not None
        dealer = self._context.socket(zmq.DEALER)
        try:
            dealer.setsockopt(zmq.LINGER, 0)
            dealer.setsockopt(zmq.IPV6, 1)
            dealer.connect(_tcp(endpoint.address, self._settings.replay_socket_port + _rank(endpoint.name)))
            await dealer.send_multipart([b"", start.to_bytes(8, "big")])
            async with asyncio.timeout(self._settings.replay_timeout_s):
                while True:
                    frames = await dealer.recv_multipart()
                    body = frames[1:] if frames and frames[0] == b"" else frames
                    seq_bytes, payload = (body[-2], body[-1]) if len(body) in (2, 3) else (b"", b"")
                    if seq_bytes == END_SEQ:
                        return
                    if len(seq_bytes) != 8:
                        self._indexer.report(REPLAY_FAILED, f"{name}: replay reply of {len(body)} frames")
                        return
                    seq = int.from_bytes(seq_bytes, "big")
                    batch = self._indexer.decode(payload)
                    if batch is not None and (before is None or seq < before):
                        self._indexer.apply(name, seq, batch)
        except TimeoutError:
            self._indexer.report(
                REPLAY_FAILED, f"{name}: no end of replay within {self._settings.replay_timeout_s} s"
            )
        except zmq.ZMQError as error:
            self._indexer.report(REPLAY_FAILED, f"{name}: replay failed: {error}")
        finally:
            dealer.close(linger=0)


def _rank(endpoint_name: str) -> int:
    match = _RANK_SUFFIX.search(endpoint_name)
    return int(match.group(1)) if match else 0


def _tcp(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"tcp://{host}:{port}"
