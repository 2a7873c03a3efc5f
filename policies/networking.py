"""Proxy-only subnet rules: one of the right purpose per gateway region, no mixed purposes, no overlaps.
The MCIG's cross-regional internal class needs GLOBAL_MANAGED_PROXY, regional classes
REGIONAL_MANAGED_PROXY, global external classes none.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from pulumi_policy import Severity
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from policies import resource_types as types
from policies.gke import region_of_zone
from policies.props import Props
from policies.rule import Finding, Resource, RuleConfig, Stack, known
from policies.rule_declaration import stack_rule

GLOBAL_MANAGED_PROXY = "GLOBAL_MANAGED_PROXY"
REGIONAL_MANAGED_PROXY = "REGIONAL_MANAGED_PROXY"
PROXY_ONLY_PURPOSES = frozenset({GLOBAL_MANAGED_PROXY, REGIONAL_MANAGED_PROXY})
REGION_ADDRESS_TYPE_PREFIX = "networking.gke.io/ephemeral-ipv4-address/"

_REGIONAL_CLASSES = frozenset({
    "gke-l7-rilb", "gke-l7-rilb-mc", "gke-l7-regional-external-managed", "gke-l7-regional-external-managed-mc",
})


def required_proxy_purpose(gateway_class: str) -> str | None:
    """The proxy-only subnet purpose a GKE GatewayClass needs, or None (global external classes)."""
    if "cross-regional" in gateway_class:
        return GLOBAL_MANAGED_PROXY
    if gateway_class in _REGIONAL_CLASSES:
        return REGIONAL_MANAGED_PROXY
    return None


def network_key(network: str | None) -> str:
    """Networks are given as a name, self link or id; compare on the final path segment."""
    return (network or "default").rstrip("/").rsplit("/", 1)[-1]


class ExternalSubnet(BaseModel):
    """A subnet that exists in the VPC but is managed elsewhere (another stack, another team)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel)

    name: str = Field(description="Subnet name, for messages.")
    region: str = Field(description="Region of the subnet.")
    network: str = Field("default", description="VPC network name or self link.")
    purpose: str = Field("PRIVATE", description="PRIVATE, REGIONAL_MANAGED_PROXY, GLOBAL_MANAGED_PROXY, ...")
    role: str = Field("ACTIVE", description="ACTIVE or BACKUP (proxy-only subnets).")
    ip_cidr_range: str | None = Field(None, description="Primary range, to check overlaps.")


class NetworkConfig(RuleConfig):
    external_subnets: list[ExternalSubnet] = Field(
        default_factory=list,
        description="Subnets already in the VPC outside this stack; a stack policy cannot see other stacks.",
    )


@dataclass(frozen=True, slots=True)
class SubnetFacts:
    name: str
    urn: str | None  # None for external subnets (declared in config, not in this stack)
    region: str
    network: str
    purpose: str
    active: bool
    ranges: tuple[str, ...]


def _subnet_facts(subnet: Resource) -> SubnetFacts | None:
    props = subnet.props
    region = props.text("region")
    if region is None:
        return None
    ranges = [props.text("ipCidrRange")] + [r.text("ipCidrRange") for r in props.items("secondaryIpRanges")]
    return SubnetFacts(
        name=subnet.name,
        urn=subnet.urn,
        region=region,
        network=network_key(props.text("network")),
        purpose=props.text("purpose") or "PRIVATE",
        active=(props.text("role") or "ACTIVE") == "ACTIVE",
        ranges=tuple(r for r in ranges if r),
    )


def subnets(stack: Stack, config: NetworkConfig) -> tuple[list[SubnetFacts], bool]:
    """Facts of the stack's subnets whose region is known plus the configured external ones, and whether
    some subnet's facts are not known yet."""
    facts = [known(lambda: _subnet_facts(s)) for s in stack.of(types.SUBNETWORK)]
    external = [
        SubnetFacts(name=f"{e.name} (external)", urn=None, region=e.region, network=network_key(e.network),
                    purpose=e.purpose, active=e.role == "ACTIVE", ranges=(e.ip_cidr_range,) if e.ip_cidr_range else ())
        for e in config.external_subnets
    ]
    return [f for f in facts if f is not None] + external, any(f is None for f in facts)


def cluster_regions(stack: Stack) -> set[str]:
    regions = set()
    for cluster in stack.of(types.CLUSTER):
        location = known(lambda: cluster.props.text("location"))
        if location:
            regions.add(region_of_zone(location))
    return regions


def _gateway_regions(addresses: list[Props]) -> set[str]:
    regions = set()
    for address in addresses:
        address_type = address.text("type") or ""
        if address_type.startswith(REGION_ADDRESS_TYPE_PREFIX):
            regions.add(address_type.removeprefix(REGION_ADDRESS_TYPE_PREFIX))
    return regions


# --- proxy-only-subnet-per-gateway-region ------------------------------------------------------------


@stack_rule("proxy-only-subnet-per-gateway-region", severity=Severity.HIGH)
def proxy_subnet_per_gateway_region(stack: Stack, config: NetworkConfig) -> Iterator[Finding]:
    """Requires one active proxy-only subnet of the purpose the gateway class needs in every gateway region.

    The gateway's managed Envoys live in the proxy-only subnet; without it in a region the load balancer has
    no proxies there, and two active ones in a region and VPC are rejected.
    """
    facts, undecided = subnets(stack, config)
    active_proxy: dict[tuple[str, str], list[SubnetFacts]] = defaultdict(list)
    for subnet in facts:
        if subnet.purpose in PROXY_ONLY_PURPOSES and subnet.active:
            active_proxy[(subnet.region, subnet.purpose)].append(subnet)
    for (region, purpose), group in active_proxy.items():
        by_network: dict[str, list[SubnetFacts]] = defaultdict(list)
        for subnet in group:
            by_network[subnet.network].append(subnet)
        for network, same in by_network.items():
            ours = [s for s in same if s.urn is not None]
            if len(same) > 1 and ours:
                names = ", ".join(s.name for s in same)
                yield Finding(f"{len(same)} ACTIVE {purpose} subnets ({names}) in {region} on network "
                              f"{network}; a region and VPC take exactly one: keep one, make others BACKUP.",
                              ours[-1].urn)
    for gateway in stack.of(types.is_gateway):
        details = known(lambda: (gateway.props.text("spec", "gatewayClassName"),
                                            gateway.props.items("spec", "addresses")))
        if details is None:
            continue
        found_class, addresses = details
        if found_class is None:
            continue
        needed = required_proxy_purpose(found_class)
        if needed is None:
            continue
        purpose = needed
        regions = _gateway_regions(addresses) or cluster_regions(stack)
        for region in sorted(regions):
            if active_proxy.get((region, purpose)) or undecided:
                continue
            present = sorted({s.purpose for s in facts if s.region == region and s.purpose in PROXY_ONLY_PURPOSES})
            found = f"; the region only has {', '.join(present)}" if present else ""
            yield Finding(f"Gateway class {found_class} needs an ACTIVE {purpose} proxy-only subnet in "
                          f"{region}, and the stack declares none{found}. Add one (a /23 is typical).",
                          gateway.urn)


# --- proxy-only-purposes-not-mixed -------------------------------------------------------------------


@stack_rule("proxy-only-purposes-not-mixed", severity=Severity.HIGH)
def proxy_purposes_not_mixed(stack: Stack, config: NetworkConfig) -> Iterator[Finding]:
    """Prohibits REGIONAL and GLOBAL managed-proxy subnets in the same region and network.

    The multi-cluster guide warns that creating the GLOBAL_MANAGED_PROXY subnet fails where a
    REGIONAL_MANAGED_PROXY one exists; single-cluster and cross-regional gateways cannot share a region+VPC.
    """
    purposes: dict[tuple[str, str], dict[str, SubnetFacts]] = defaultdict(dict)
    for subnet in subnets(stack, config)[0]:
        if subnet.purpose in PROXY_ONLY_PURPOSES:
            purposes[(subnet.region, subnet.network)].setdefault(subnet.purpose, subnet)
    for (region, network), by_purpose in sorted(purposes.items()):
        if len(by_purpose) < 2:
            continue
        regional, global_ = by_purpose[REGIONAL_MANAGED_PROXY], by_purpose[GLOBAL_MANAGED_PROXY]
        ours = global_.urn or regional.urn
        if ours is None:
            continue  # both exist outside this stack: not this stack's change
        yield Finding(f"{region} on network {network} has both REGIONAL_MANAGED_PROXY ({regional.name}) and "
                      f"GLOBAL_MANAGED_PROXY ({global_.name}) subnets; the MCIG setup fails on such a region: "
                      f"use another region or VPC for the single-cluster gateway.", ours)


# --- proxy-only-cidrs-disjoint -----------------------------------------------------------------------


@stack_rule("proxy-only-cidrs-disjoint")
def proxy_cidrs_disjoint(stack: Stack, config: NetworkConfig) -> Iterator[Finding]:
    """Requires proxy-only subnet ranges not to overlap each other or other ranges in the VPC.

    Subnet ranges in one VPC must be disjoint; an overlap fails subnet creation mid-apply, after the clusters
    already exist.
    """
    by_network: dict[str, list[tuple[SubnetFacts, ipaddress.IPv4Network | ipaddress.IPv6Network]]] = defaultdict(list)
    for subnet in subnets(stack, config)[0]:
        for cidr in subnet.ranges:
            try:
                network = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                if subnet.purpose in PROXY_ONLY_PURPOSES and subnet.urn is not None:
                    yield Finding(f"ipCidrRange '{cidr}' is not a CIDR range.", subnet.urn)
                continue
            by_network[subnet.network].append((subnet, network))
    for network_name, ranges in by_network.items():
        for index, (first, first_cidr) in enumerate(ranges):
            for second, second_cidr in ranges[index + 1:]:
                involves_proxy = PROXY_ONLY_PURPOSES & {first.purpose, second.purpose}
                if not involves_proxy or not first_cidr.overlaps(second_cidr):
                    continue
                if first.urn is None and second.urn is None:
                    continue
                proxy = first if first.purpose in PROXY_ONLY_PURPOSES else second
                yield Finding(f"{first_cidr} ({first.name}) overlaps {second_cidr} ({second.name}) on network "
                              f"{network_name}; give the proxy-only subnet a disjoint range.",
                              proxy.urn or first.urn or second.urn)


RULES = (proxy_subnet_per_gateway_region, proxy_purposes_not_mixed, proxy_cidrs_disjoint)
