"""Serves the guardrail pack to the Pulumi engine: ``pulumi preview --policy-pack policies``.

Constructing ``PolicyPack`` starts the analyzer's gRPC server and blocks, so nothing imports this module.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The CLI runs this file from inside the pack folder; the rules import as the `policies` package.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from pulumi_policy import PolicyPack  # noqa: E402

from policies.pack import PACK_DESCRIPTION, PACK_ENFORCEMENT_LEVEL, PACK_NAME, build_policies  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    description=PACK_DESCRIPTION,
    enforcement_level=PACK_ENFORCEMENT_LEVEL,
    policies=build_policies(),
)
