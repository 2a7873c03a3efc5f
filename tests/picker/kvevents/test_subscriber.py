"""Real ZMQ sockets on loopback: the subscriber in both of llm-d's modes, gap replay, a publisher leaving."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest
import zmq
import zmq.asyncio
from picker.framework.types import Endpoint
from picker.kvevents.block_index import KVBlockIndex
from picker.kvevents.block_keys import BlockKeyHasher
from picker.kvevents.indexer import KVEventIndexer
from picker.kvevents.subscriber import END_SEQ, KVEventSubscriber, SubscriberSettings

from tests.picker.kvevents.test_indexer import CountingMetrics
from tests.picker.kvevents.vllm_payloads import batch, block_stored

TOKENS = list(range(16))
ENDPOINT = Endpoint(name="e1", address="127.0.0.1", port=8000)


def keys() -> list[int]:
    return BlockKeyHasher(4).request_keys(TOKENS, None, None)


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


class FakeServer:
    """A vLLM-like publisher: PUB bound on a free port, ROUTER replaying whatever batches it was given."""

    def __init__(self, context: zmq.asyncio.Context, topic: str) -> None:
        self.topic = topic.encode()
        self.pub = context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.port = self.pub.bind_to_random_port("tcp://127.0.0.1")
        self.router = context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.replay_port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.history: dict[int, bytes] = {}
        self.replay_requests: list[int] = []

    async def send(self, seq: int, payload: bytes, live: bool = True) -> None:
        self.history[seq] = payload
        if live:
            await self.pub.send_multipart([self.topic, seq.to_bytes(8, "big"), payload])

    async def serve_replay(self) -> None:
        while True:
            identity, _, start = await self.router.recv_multipart()
            first = int.from_bytes(start, "big")
            self.replay_requests.append(first)
            for seq in sorted(s for s in self.history if s >= first):
                await self.router.send_multipart(
                    [identity, b"", self.topic, seq.to_bytes(8, "big"), self.history[seq]]
                )
            await self.router.send_multipart([identity, b"", b"", END_SEQ, b""])


@contextlib.asynccontextmanager
async def running(subscriber: KVEventSubscriber) -> AsyncIterator[None]:
    task = asyncio.create_task(subscriber.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def context() -> AsyncIterator[zmq.asyncio.Context]:
    context = zmq.asyncio.Context()
    yield context
    context.destroy(linger=0)


async def test_dial_mode_applies_live_batches_and_replays_a_gap(context: zmq.asyncio.Context) -> None:
    server = FakeServer(context, "kv@127.0.0.1:8000@base")
    replay = asyncio.create_task(server.serve_replay())
    metrics = CountingMetrics()
    indexer = KVEventIndexer(KVBlockIndex(BlockKeyHasher(4), 1000, 10), "kv@", metrics)
    settings = SubscriberSettings(
        None, server.port, server.replay_port, replay_timeout_s=2, replay_cooldown_s=0
    )
    subscriber = KVEventSubscriber(indexer, settings, time.monotonic)
    subscriber.endpoint_added(ENDPOINT)
    try:
        async with running(subscriber):
            await asyncio.sleep(0.3)  # let the SUB connect (ZMQ's slow joiner)
            await server.send(0, batch(block_stored([1], TOKENS[:4])))
            await eventually(lambda: indexer.index.longest_prefix(keys()) == {"e1": 1})
            await server.send(1, batch(block_stored([2], TOKENS[4:8], parent=1)), live=False)  # lost
            await server.send(2, batch(block_stored([3], TOKENS[8:12], parent=2)))
            await eventually(lambda: indexer.index.longest_prefix(keys()) == {"e1": 3})
            # 0: the proactive replay of a new subscription; 1: the gap.
            assert server.replay_requests == [0, 1] and "sequence_gap" in metrics.errors
            server.pub.close(linger=0)  # the server goes away
            await eventually(lambda: not indexer.is_publishing("e1"))
            assert indexer.index.longest_prefix(keys()) == {} and "publisher_gone" in metrics.errors
    finally:
        replay.cancel()


async def test_bind_mode_names_endpoints_from_the_topic(context: zmq.asyncio.Context) -> None:
    metrics = CountingMetrics()
    indexer = KVEventIndexer(KVBlockIndex(BlockKeyHasher(4), 1000, 10), "kv@", metrics)
    settings = SubscriberSettings("tcp://127.0.0.1:*", 0, 0, replay_timeout_s=2, replay_cooldown_s=30)
    subscriber = KVEventSubscriber(indexer, settings, time.monotonic)
    subscriber.endpoint_added(ENDPOINT)
    async with running(subscriber):
        await eventually(lambda: subscriber.bound_endpoint is not None)
        pub = context.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        assert subscriber.bound_endpoint is not None
        pub.connect(subscriber.bound_endpoint)
        await asyncio.sleep(0.3)
        for topic in ("kv@127.0.0.1:8000@base", "kv@10.9.9.9:8000@base", "other"):
            await pub.send_multipart(
                [topic.encode(), (0).to_bytes(8, "big"), batch(block_stored([1], TOKENS[:4]))]
            )
        await eventually(lambda: len(metrics.errors) >= 2 and indexer.is_publishing("e1"))
        pub.close(linger=0)
    assert indexer.index.longest_prefix(keys()) == {"e1": 1}
    assert sorted(metrics.errors) == ["unknown_endpoint", "wrong_topic"]


async def test_a_new_subscription_replays_what_was_published_before_it(context: zmq.asyncio.Context) -> None:
    server = FakeServer(context, "kv@127.0.0.1:8000@base")
    replay = asyncio.create_task(server.serve_replay())
    await server.send(
        0, batch(block_stored([1, 2], TOKENS[:8]))
    )  # nobody listens yet: only the buffer has it
    await server.send(1, batch(block_stored([3], TOKENS[8:12], parent=2)))
    indexer = KVEventIndexer(KVBlockIndex(BlockKeyHasher(4), 1000, 10), "kv@", CountingMetrics())
    settings = SubscriberSettings(None, server.port, server.replay_port, replay_timeout_s=2, replay_cooldown_s=30)
    subscriber = KVEventSubscriber(indexer, settings, time.monotonic)
    subscriber.endpoint_added(ENDPOINT)
    try:
        async with running(subscriber):
            await eventually(lambda: indexer.index.longest_prefix(keys()) == {"e1": 3})
            await asyncio.sleep(0.3)
            await server.send(
                2, batch(block_stored([4], TOKENS[12:16], parent=3))
            )  # live continues: no reset
            await eventually(lambda: indexer.index.longest_prefix(keys()) == {"e1": 4})
    finally:
        replay.cancel()
