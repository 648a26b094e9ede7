"""core/hash_search.py: the block search finds exactly what comparing every pair finds."""
import numpy as np
import pytest

from core import hash_search


@pytest.mark.parametrize("max_distance", [0, 3, 12, 31])
def test_block_search_finds_exactly_the_pairs_the_brute_search_finds(max_distance, monkeypatch):
    rng = np.random.default_rng(max_distance)

    def flip(h, k):
        bits = np.unpackbits(np.frombuffer(h, np.uint8))
        bits[rng.choice(256, k, replace=False)] ^= 1
        return np.packbits(bits).tobytes()

    reference = [rng.bytes(32) for _ in range(300)] + [None]
    # copies at every distance up to and past the limit, unrelated hashes, unreadable entries, exact repeats
    query = [flip(reference[k], k % 40) for k in range(0, 300, 3)] + [rng.bytes(32) for _ in range(200)] + [None]
    query += query[:30]
    for ref in (reference, None):
        brute = hash_search.pairs_within(query, ref, max_distance, method="brute")
        blocks = hash_search.pairs_within(query, ref, max_distance, method="blocks")
        assert len(brute) > 0 and blocks.equals(brute)
    monkeypatch.setattr(hash_search, "MAX_CANDIDATES", 10)  # too many block matches: the brute search answers
    assert hash_search.pairs_within(query, reference, max_distance, method="blocks").equals(
        hash_search.pairs_within(query, reference, max_distance, method="brute"))
    assert hash_search.pairs_within([], reference, max_distance, method="blocks").empty


def test_auto_takes_blocks_for_large_searches_only_and_brute_for_wide_distances(monkeypatch):
    rng = np.random.default_rng(0)
    reference = [rng.bytes(32) for _ in range(1100)]
    query = [rng.bytes(32) for _ in range(2000)] + reference[:5]  # 2005 x 1100: past 2 million pairs
    used = []
    real = hash_search._block_candidates
    monkeypatch.setattr(hash_search, "_block_candidates", lambda *a: used.append(a[2]) or real(*a))
    found = hash_search.pairs_within(query, reference, 12)
    assert used == [13] and sorted(found["j"]) == [0, 1, 2, 3, 4]  # 13 blocks for 12 bits; the planted copies
    hash_search.pairs_within(query[:10], reference, 12)  # small: compared pair by pair
    hash_search.pairs_within(query, reference, 32)  # blocks of under 8 bits would match nearly everything
    assert used == [13]
