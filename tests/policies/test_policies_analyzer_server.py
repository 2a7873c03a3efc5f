"""The pack as Pulumi runs it: policies/__main__.py started from its folder serves the analyzer gRPC API.

This is the process `pulumi preview --policy-pack policies` talks to; the test plays the engine's part.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from planned_stack import multi_cluster_stack
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from policies import resource_types as types
from policies.pack import PACK_NAME, RULES

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen([sys.executable, "-u", "__main__.py"], cwd=POLICIES_DIR,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port_line = process.stdout.readline().strip()  # the SDK prints its port, then serves
        assert port_line.isdigit(), process.stderr.read() if process.poll() is not None else port_line
        with grpc.insecure_channel(f"127.0.0.1:{port_line}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


@pytest.mark.integration
def test_pack_serves_every_rule_and_analyzes(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == PACK_NAME
    assert [p.name for p in info.policies] == [r.name for r in RULES]
    timeout_policy = next(p for p in info.policies if p.name == "backend-timeout-covers-p99")
    assert timeout_policy.configSchema.properties["p99LatencySec"]["default"] == 30

    cluster = next(r for r in multi_cluster_stack() if r.resource_type == types.CLUSTER)
    properties = struct_pb2.Struct()
    json_format.ParseDict({**cluster.inputs, "gatewayApiConfig": {"channel": "CHANNEL_DISABLED"}}, properties)
    response = analyzer.Analyze(proto.AnalyzeRequest(type=types.CLUSTER, properties=properties,
                                                     urn="urn:pulumi:dev::p::gcp:container/cluster:Cluster::c",
                                                     name="c"), timeout=30)
    assert [d.policyName for d in response.diagnostics] == ["gke-gateway-api-enabled"]
    assert "Gateway API is disabled" in response.diagnostics[0].message
