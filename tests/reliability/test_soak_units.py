"""Unit checks of the reliability tooling in bench.soak: the retry-path bootstrap Envoy accepts, the
picker config it writes, the percentile it reports, and the soak CLI refusing bad arguments."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from bench.soak.__main__ import main as soak_main
from bench.soak.gateway import RETRY_ON, gateway_bootstrap, picker_config, soak_picker
from bench.stats.percentiles import percentile_or_nan

from infgw.envoy.binary import validate_bootstrap
from infgw.envoy.bootstrap import PICKED_ENDPOINT_CLUSTER
from infgw.launch.replica_process import ReplicaProcess


def _replicas(tmp_path: Path, ports: list[int]) -> list[ReplicaProcess]:
    return [ReplicaProcess(f"r{p}", tmp_path / f"r{p}.log", port=p) for p in ports]


def test_retry_path_bootstrap_balances_the_pool_by_override_host_and_envoy_accepts_it(tmp_path: Path) -> None:
    replicas = _replicas(tmp_path, [18000, 18001])
    picker = soak_picker(tmp_path, replicas, grpc_port=19002)
    bootstrap = gateway_bootstrap(picker, replicas)
    cluster = next(
        c for c in bootstrap["static_resources"]["clusters"] if c["name"] == PICKED_ENDPOINT_CLUSTER
    )
    policy = cluster["load_balancing_policy"]["policies"][0]["typed_extension_config"]
    assert policy["name"] == "envoy.load_balancing_policies.override_host"
    ports = [
        e["endpoint"]["address"]["socket_address"]["port_value"]
        for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    ]
    assert ports == [18000, 18001]
    manager = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert all(r["route"]["retry_policy"]["retry_on"] == ",".join(RETRY_ON) for r in routes if "route" in r)
    # The Lua step that keeps only the primary must be gone, or there is no list to walk.
    assert not any(f["name"] == "envoy.filters.http.lua" for f in manager["http_filters"])
    validate_bootstrap(bootstrap)


def test_without_the_retry_path_the_bootstrap_is_infgw_envoys_default(tmp_path: Path) -> None:
    replicas = _replicas(tmp_path, [18000])
    bootstrap = gateway_bootstrap(soak_picker(tmp_path, replicas, grpc_port=19002), replicas, retry_path=False)
    cluster = next(
        c for c in bootstrap["static_resources"]["clusters"] if c["name"] == PICKED_ENDPOINT_CLUSTER
    )
    assert cluster["type"] == "ORIGINAL_DST"


def test_picker_config_returns_fallbacks_and_carries_admission() -> None:
    document = yaml.safe_load(picker_config(3, {"flowControl": {"enabled": True}}))
    picker = next(p for p in document["plugins"] if p["type"] == "max-score-picker")
    assert picker["parameters"] == {"maxNumOfEndpoints": 3}
    assert document["flowControl"] == {"enabled": True}


def test_soak_figures_use_the_projects_percentile() -> None:
    """One definition (bench.stats): linear interpolation; NaN where a table needs a number and has none."""
    values = [float(v) for v in range(1, 11)]
    assert percentile_or_nan(values, 90) == pytest.approx(9.1)
    assert percentile_or_nan([3.0], 90) == 3.0
    assert math.isnan(percentile_or_nan([], 90))


@pytest.mark.parametrize("argv", [["--minutes", "0"], ["--load", "1.5"], ["--replicas", "0"]])
def test_soak_refuses_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        soak_main(argv)
    assert exit_info.value.code == 2
    assert "--minutes and --interval must be > 0" in capsys.readouterr().err
