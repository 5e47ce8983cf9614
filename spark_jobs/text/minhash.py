"""MinHash signatures and LSH band keys, computed with numpy over a whole Arrow batch at once.

MinHash finds the candidate pairs only; each candidate is then judged exactly by
``spark_jobs.text.similarity`` (shared words in order), so the shingles are chosen for recall on edited
copies at a low cost, not to decide.

Shingles are word n-grams (default 2, lower-cased ``\\w+`` tokens) or character n-grams, each hashed to
32 bits. Word bigrams because scattered edits break few of them: with 10% of the words substituted at
random positions, the bigram Jaccard of real 30-60 word texts stays at or above 0.56 (1st percentile;
5-grams fall to 0.25), while unrelated texts share almost none (median 0.00; docs/TEXT_CLEANING.md); a document with fewer tokens than ``ngram`` is one shingle. Very long documents use their first
``max_shingles`` shingles, so one 10 MB page costs what a long article does. Permutation i is the
multiply-shift hash ``(a_i * x + b_i) mod 2^64 >> 32``; the signature is the per-permutation minimum.
Band keys fold each band's ``rows`` values into one 64-bit key.

Detection probability of a pair with Jaccard J: ``1 - (1 - J**rows) ** bands`` (see ``detection_probability``
and docs/TEXT_CLEANING.md for the curve of the defaults).
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, replace

import numpy as np

from shardline.settings import TextSettings

_TOKEN = re.compile(r"\w+", re.U)
_MASK64 = (1 << 64) - 1


_TEXT = TextSettings()


@dataclass(frozen=True)
class MinHashConfig:
    """Near-duplicate matching, from the ``[text]`` settings (``from_settings``; defaults are theirs)."""
    ngram: int = _TEXT.ngram
    shingle: str = _TEXT.shingle
    bands: int = _TEXT.minhash_bands
    rows: int = _TEXT.minhash_rows
    threshold: float = _TEXT.threshold  # shared-word score (spark_jobs/text/similarity.py) of a near duplicate
    max_extra_words: int = _TEXT.max_extra_words
    min_words: int = _TEXT.near_dup_min_words
    max_shingles: int = 20_000
    max_bucket: int = _TEXT.max_bucket  # skew guard, see spark_jobs.common.neardup
    seed: int = 1

    def __post_init__(self) -> None:
        replace(_TEXT, ngram=self.ngram, shingle=self.shingle, minhash_bands=self.bands, minhash_rows=self.rows,
                threshold=self.threshold, max_extra_words=self.max_extra_words, near_dup_min_words=self.min_words,
                max_bucket=self.max_bucket)

    @classmethod
    def from_settings(cls, text: TextSettings) -> "MinHashConfig | None":
        """None when ``near_dup`` is off."""
        if not text.near_dup:
            return None
        return cls(ngram=text.ngram, shingle=text.shingle, bands=text.minhash_bands, rows=text.minhash_rows,
                   threshold=text.threshold, max_extra_words=text.max_extra_words,
                   min_words=text.near_dup_min_words, max_bucket=text.max_bucket)

    @property
    def permutations(self) -> int:
        return self.bands * self.rows

    def detection_probability(self, jaccard: float) -> float:
        return 1 - (1 - jaccard ** self.rows) ** self.bands

    def params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        a = rng.integers(1, 2**63, self.permutations, dtype=np.uint64) | np.uint64(1)
        b = rng.integers(0, 2**63, self.permutations, dtype=np.uint64)
        fold = rng.integers(1, 2**63, self.rows, dtype=np.uint64) | np.uint64(1)
        return a, b, fold


_GRAM_MULT = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
                       0x85EBCA77C2B2AE63, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB],
                      dtype=np.uint64)


class _TokenHashes(dict):
    """crc32 of each token, computed once per batch (words repeat: most lookups are hits)."""

    def __missing__(self, token: str) -> int:
        value = self[token] = zlib.crc32(token.encode())
        return value


def shingles(text: str, cfg: MinHashConfig, token_hashes: dict | None = None) -> np.ndarray:
    """Distinct 32-bit shingle hashes (uint64 array, at least one element for a non-empty text)."""
    if cfg.shingle == "word":
        tokens = _TOKEN.findall(text.lower())
        lookup = (token_hashes if token_hashes is not None else _TokenHashes()).__getitem__
        units = np.array(list(map(lookup, tokens)), dtype=np.uint64)
    else:
        units = np.frombuffer(text.lower().encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if units.size == 0:
        return np.zeros(1, dtype=np.uint64)
    n = min(cfg.ngram, units.size)
    count = min(units.size - n + 1, cfg.max_shingles)
    grams = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            grams += units[k:k + count] * _GRAM_MULT[k % len(_GRAM_MULT)]
    return np.unique(grams >> np.uint64(32))


def signatures(texts: list[str], cfg: MinHashConfig, chunk: int = 16) -> np.ndarray:
    """(len(texts), permutations) uint32 MinHash signatures.

    A few documents at a time, in place: the (shingles x permutations) matrix then stays in the CPU
    cache (2.4x faster than 256 documents at a time with temporaries, measured)."""
    a, b, _ = cfg.params()
    out = np.empty((len(texts), cfg.permutations), dtype=np.uint32)
    shift = np.uint64(32)
    token_hashes = _TokenHashes()
    for start in range(0, len(texts), chunk):
        parts = [shingles(t, cfg, token_hashes) for t in texts[start:start + chunk]]
        x = np.concatenate(parts)
        offsets = np.cumsum([0] + [p.size for p in parts[:-1]])
        h = np.multiply(x[:, None], a[None, :])  # mod 2^64: unsigned multiplication wraps silently
        h += b
        h >>= shift
        out[start:start + len(parts)] = np.minimum.reduceat(h, offsets, axis=0)
    return out


def band_keys(sigs: np.ndarray, cfg: MinHashConfig) -> np.ndarray:
    """(n, bands) int64 keys: each band's ``rows`` values folded into one 64-bit number."""
    _, _, fold = cfg.params()
    s = sigs.astype(np.uint64).reshape(len(sigs), cfg.bands, cfg.rows)
    with np.errstate(over="ignore"):
        keys = (s * fold[None, None, :]).sum(axis=2, dtype=np.uint64)
    return keys.view(np.int64)


def estimated_jaccard(sa: np.ndarray, sb: np.ndarray) -> float:
    return float(np.mean(sa == sb))
