"""The search behind ``core.near_copies``: which pairs of perceptual hashes (equal-length byte
strings, here 256 bits) differ in at most ``max_distance`` bits.

Two ways, the same pairs: compare every pair in chunks (memory bounded, O(n m)), or multi-index
hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with Multi-Index Hashing",
CVPR 2012): cut the bits into ``max_distance + 1`` blocks; by the pigeonhole principle two
hashes within ``max_distance`` bits agree exactly on at least one block, so only pairs sharing a
block need comparing, found by sorting. Streamlit-free and torch-free.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def _as_words(hashes: list[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, words): the indices of the readable hashes and those hashes as (n, 4) uint64."""
    rows = np.array([i for i, h in enumerate(hashes) if h is not None], dtype=np.int64)
    buf = b"".join(hashes[i] for i in rows)
    width = len(hashes[rows[0]]) // 8 if len(rows) else 4  # uint64 words per hash (4 for 256 bits)
    return rows, np.frombuffer(buf, dtype=np.uint64).reshape(len(rows), width)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between every hash of ``a`` (n, 4) and of ``b`` (m, 4) uint64: (n, m)."""
    return np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(axis=2, dtype=np.int32)


def pairs_within(query: list[bytes | None], reference: list[bytes | None] | None, max_distance: int,
                 chunk: int = 512, method: str = "auto") -> pd.DataFrame:
    """Pairs of near copies: columns ``i`` (index into ``query``), ``j`` (into ``reference``)
    and ``distance`` (bits), sorted by distance. Without ``reference`` the pairs within
    ``query`` (i < j). Unreadable entries (None) match nothing.

    ``method``: "brute" compares every pair, ``chunk`` query rows at a time (memory bounded by
    them); "blocks" is multi-index hashing (Norouzi et al., CVPR 2012): cut the 256 bits into
    ``max_distance + 1`` blocks; two hashes within ``max_distance`` bits agree exactly on at least
    one block (pigeonhole), so only pairs sharing a block are compared. Both give the same pairs;
    "auto" takes blocks for large inputs while blocks keep at least 8 bits (``max_distance`` < 32),
    and falls back to brute when blocks would match too many pairs (``MAX_CANDIDATES``)."""
    q_rows, q = _as_words(query)
    r_rows, r = _as_words(query if reference is None else reference)
    if method == "auto":
        method = "blocks" if max_distance < 32 and len(q) * len(r) > 2_000_000 else "brute"
    candidates = _block_candidates(q, r, max_distance + 1) if method == "blocks" else None
    if candidates is not None:
        ii, jj = candidates
        d = np.bitwise_count(q[ii] ^ r[jj]).sum(axis=1, dtype=np.int64) if len(ii) else np.zeros(0, np.int64)
        near = d <= max_distance
        gi, gj, d = q_rows[ii[near]], r_rows[jj[near]], d[near]
        keep = gi < gj if reference is None else np.ones(len(gi), dtype=bool)
        found = [pd.DataFrame({"i": gi[keep], "j": gj[keep], "distance": d[keep]})]
    else:
        found = []
        for start in range(0, len(q), chunk):
            d = distances(q[start:start + chunk], r)
            ii, jj = np.nonzero(d <= max_distance)
            gi, gj = q_rows[start + ii], r_rows[jj]
            keep = gi < gj if reference is None else np.ones(len(gi), dtype=bool)
            found.append(pd.DataFrame({"i": gi[keep], "j": gj[keep], "distance": d[ii, jj][keep]}))
    out = pd.concat(found, ignore_index=True) if found else pd.DataFrame({"i": [], "j": [], "distance": []})
    return out.astype({"i": np.int64, "j": np.int64, "distance": np.int64}).sort_values(
        ["distance", "i", "j"], kind="stable").reset_index(drop=True)


def _block_keys(words: np.ndarray, n_blocks: int) -> np.ndarray:
    """(n_blocks, n) uint64: each hash's bits cut into ``n_blocks`` contiguous blocks, each block as a number."""
    bits = np.unpackbits(words.view(np.uint8), axis=1)  # (n, 256): any fixed bit order serves
    edges = np.linspace(0, bits.shape[1], n_blocks + 1).astype(int)
    keys = np.empty((n_blocks, len(words)), dtype=np.uint64)
    for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        keys[b] = bits[:, lo:hi].astype(np.uint64) @ (np.uint64(1) << np.arange(hi - lo, dtype=np.uint64))
    return keys


MAX_CANDIDATES = 20_000_000  # block matches beyond which the brute search (memory-bounded) is used instead


def _block_candidates(q: np.ndarray, r: np.ndarray, n_blocks: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Row pairs (into ``q``, into ``r``) that agree exactly on at least one of ``n_blocks`` blocks,
    each once; None when there would be over ``MAX_CANDIDATES`` (many identical pictures)."""
    if not len(q) or not len(r):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    qk, rk = _block_keys(q, n_blocks), _block_keys(r, n_blocks)
    runs = []
    for b in range(n_blocks):
        order = np.argsort(rk[b], kind="stable")
        sorted_keys = rk[b][order]
        lo = np.searchsorted(sorted_keys, qk[b], side="left")
        runs.append((order, lo, np.searchsorted(sorted_keys, qk[b], side="right") - lo))
    if sum(int(counts.sum()) for _, _, counts in runs) > MAX_CANDIDATES:
        return None
    pairs = []
    for order, lo, counts in runs:
        if not counts.any():
            continue
        i = np.repeat(np.arange(len(q)), counts)
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts)  # each run's offset into sorted_keys
        j = order[starts + np.arange(len(i))]
        pairs.append(i * len(r) + j)
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    flat = np.unique(np.concatenate(pairs))
    return flat // len(r), flat % len(r)
