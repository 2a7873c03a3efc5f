"""Stack files for the local gateway's tests: the real Pulumi.yaml next to a test stack of our own."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from components.config import StackConfig, validate_stack_config
from components.config.services import ServicesConfig
from components.config.sources import read_stack

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
QWEN = "Qwen/Qwen2.5-1.5B-Instruct"

# Two pools (one with a LoRA adapter, one FailOpen) and objectives of both kinds: the multi-pool path
# (body-based routing across pickers) and every admission outcome in one small stack.
TWO_POOL_SERVICES = {
    "picker": {"image": "example.com/picker:0.1.0"},
    "pools": [
        {
            "name": "llama",
            "model": LLAMA,
            "replicas": 2,
            "lora": {
                "maxLoras": 2,
                "adapters": [{"id": "food-review-1", "source": "Kawon/llama3.1-food-finetune_v14_r8"}],
            },
        },
        {"name": "qwen", "model": QWEN, "replicas": 1, "failureMode": "FailOpen"},
    ],
    "objectives": [
        {"name": "critical", "priority": 10, "pool": "llama"},
        {"name": "batch", "priority": -1, "pool": "llama"},
    ],
    "backendPolicy": {"timeoutSec": 60},
}


def stack_document(services: dict[str, object]) -> dict[str, object]:
    return {
        "config": {
            "gcp:project": "local-test-project",
            "gke-inference-gateway:regions": {
                "gke-central": {
                    "region": "us-central1",
                    "zone": "us-central1-a",
                    "proxySubnetCidr": "10.10.0.0/23",
                    "gpuPool": {
                        "machineType": "a3-highgpu-2g",
                        "acceleratorType": "nvidia-h100-80gb",
                        "acceleratorCount": 2,
                        "nodeCount": 2,
                    },
                }
            },
            "gke-inference-gateway:services": services,
        }
    }


def write_stack(directory: Path, stack: str, services: dict[str, object], project_file: Path) -> Path:
    """A project directory holding the repository's Pulumi.yaml and program, and Pulumi.<stack>.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(project_file, directory / "Pulumi.yaml")
    program = directory / "__main__.py"
    if not program.exists():
        program.symlink_to(project_file.parent / "__main__.py")
    (directory / f"Pulumi.{stack}.yaml").write_text(
        yaml.safe_dump(stack_document(services)), encoding="utf-8"
    )
    return directory


def load_stack(project_dir: Path, stack: str) -> StackConfig:
    return validate_stack_config(read_stack(stack, project_dir))


def render_services(pulumi_mocks: Any, services: ServicesConfig, *, multi: bool = False) -> list[dict[str, Any]]:
    """The objects InferenceService renders for `services` in one (config) cluster, as the plan writes them."""
    import pulumi_kubernetes as k8s

    from components.inference_service import InferenceService, InferenceServiceArgs
    from infgw.plan.manifests import manifests_by_cluster

    def program() -> None:
        provider = k8s.Provider("local-k8s", kubeconfig="unused-under-mocks")
        InferenceService(
            "local-inference",
            InferenceServiceArgs(
                cluster_name="local",
                services=services,
                provider=provider,
                picker_image="example.com/picker:0.1.0",
                topology="multi" if multi else "single",
                gateway_regions=["europe-west3", "us-east4"] if multi else (),
            ),
        )

    (cluster,) = manifests_by_cluster(pulumi_mocks.record(program))
    return [dict(obj.body) for obj in cluster.objects]
