from __future__ import annotations

import pytest
from picker.plugins.prefix_home import PrefixHomes


def test_the_deepest_key_decides_and_shallow_matches_do_not_count() -> None:
    homes = PrefixHomes(max_keys=100)
    homes.place("e0", [1, 2, 3])
    homes.place("e1", [1, 7, 8, 9])  # another prefix sharing only the first (template) block
    assert homes.home([1, 2, 3, 4], min_blocks=1) == ("e0", 3)
    assert homes.home([1, 7, 8], min_blocks=1) == ("e1", 3)
    assert homes.home([1, 5, 6], min_blocks=2) is None  # only the shared first block: no home
    assert homes.home([1, 5, 6], min_blocks=1) == ("e1", 1)


def test_the_table_is_bounded_and_forgets_departed_endpoints() -> None:
    homes = PrefixHomes(max_keys=3)
    homes.place("e0", [1, 2, 3])
    homes.place("e1", [4])  # evicts key 1, the least recent
    assert homes.size() == 3
    assert homes.home([1, 2], min_blocks=1) == ("e0", 2)
    assert homes.home([1], min_blocks=1) is None
    homes.prune({"e1"})
    assert homes.size() == 1
    with pytest.raises(ValueError, match="max_keys"):
        PrefixHomes(0)
