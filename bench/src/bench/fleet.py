"""Starts the simulated model-server fleet (one ``python -m sim`` process per replica) with fresh caches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import yaml

from bench.config import FleetSpec
from bench.targets.base import FleetView
from infgw.launch.ports import free_port, free_port_block
from infgw.launch.replica_process import ReplicaProcess


def replica_config(
    spec: FleetSpec, index: int, port: int, seed: int, kv_events_ports: tuple[int, int] | None = None
) -> dict[str, object]:
    """The simulator config of replica ``index`` (SimConfig keys); with ``kv_events_ports`` (live, replay
    base ports) it publishes vLLM KV events on base + index, as data-parallel ranks of one vLLM pod do."""
    config: dict[str, object] = {
        "model": spec.model,
        "name": f"replica-{index}",
        "host": "127.0.0.1",
        "port": port,
        # Distinct seeds per replica: identical replicas would draw identical output lengths in lockstep.
        "seed": seed * 1000 + index,
        "profile": spec.profile,
        "num_gpu_blocks": spec.num_gpu_blocks,
        "block_size": spec.block_size,
        "max_num_seqs": spec.max_num_seqs,
        "max_model_len": spec.max_model_len,
        "max_loras": spec.max_loras,
        "lora_modules": [{"name": name} for name in spec.lora_modules],
        "enable_prefix_caching": True,
        "scheduling_policy": spec.scheduling_policy,
    }
    if kv_events_ports is not None:
        live, replay = kv_events_ports
        config["kv_events_config"] = {
            "enable_kv_cache_events": True,
            "publisher": "zmq",
            "endpoint": f"tcp://*:{live + index}",
            "replay_endpoint": f"tcp://*:{replay + index}",
            "topic": f"kv@127.0.0.1:{port}@{spec.model}",
        }
    config.update(spec.extra)
    return config


@asynccontextmanager
async def running_fleet(spec: FleetSpec, seed: int, work_dir: Path, ready_timeout_s: float = 30.0,
                        kv_events: bool = False) -> AsyncIterator[FleetView]:
    """Starts ``spec.replicas`` simulators, waits until each announces it listens, yields their URLs, stops
    them all.

    With ``kv_events`` the replicas publish vLLM KV events (ports in ``FleetView.kv_events_ports``).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    processes: list[ReplicaProcess] = []
    events_ports = None
    if kv_events:
        base = free_port_block(2 * spec.replicas)
        events_ports = (base, base + spec.replicas)
    try:
        replicas: dict[str, str] = {}
        for index in range(spec.replicas):
            port = free_port()
            config_path = work_dir / f"replica-{index}.yaml"
            config = replica_config(spec, index, port, seed, events_ports)
            config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
            process = ReplicaProcess(f"replica-{index}", work_dir / f"replica-{index}.log",
                                     ["--config", str(config_path)], port=port, ready_timeout_s=ready_timeout_s)
            processes.append(process)
            process.start()
            replicas[process.name] = process.url
        await asyncio.gather(*(p.wait_ready() for p in processes))
        yield FleetView(replicas=replicas, model=spec.model, work_dir=work_dir, kv_events_ports=events_ports,
                        scheduling_policy=spec.scheduling_policy)
    finally:
        # All at once: each replica's graceful shutdown takes a moment, and they are independent.
        await asyncio.gather(*(p.child.stop() for p in processes))
