"""Makes this folder's helper modules (planned_stack, policy_harness) importable under any pytest import
mode: the default "prepend" mode puts the folder on sys.path itself, "importlib" does not.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
