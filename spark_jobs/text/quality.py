"""Document filters, each switchable, each with its own quarantine reason; presets ``web`` and ``labeled``.

Quality heuristics follow Gopher (Rae et al. 2021, as implemented in datatrove) and C4: mean word
length, symbol-to-word ratio, lines ending in an ellipsis or starting with a bullet, repeated lines and
repeated n-grams, stop-word presence, share of words with a letter, "lorem ipsum". Language ID is CLD2
(``pycld2``: the model is compiled into the wheel, nothing is downloaded).

``check`` is the rule for one document (the reference, and what row-at-a-time code calls); ``check_batch``
computes the same measures for a whole Arrow batch at once with pyarrow kernels and numpy (one
tokenisation, n-gram counts by hashing token ids) and gives the same answers; tests compare the two.

``web`` is strict, for crawled pages. ``labeled`` is light, for short labeled texts (reviews, quotes,
titles): a clean one-sentence document passes it; only empty or symbol/garbage text is dropped.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
_BULLETS = ("•", "●", "○", "■", "□", "▪", "‣", "–", "-", "*", "·")
_ALPHA_WORD = re.compile(r"(?:^|\s)\S*?[^\W\d_]")  # a word holding at least one letter
_ALPHA_RE2 = r"[\pL\p{Nl}\p{No}]"  # the same class ([^\W\d_]) for Arrow's RE2
_BULLETS_RE2 = "^(?:" + "|".join(re.escape(b) for b in _BULLETS) + ")"


@dataclass(frozen=True)
class FilterConfig:
    min_words: int = 1
    max_words: int = 100_000
    languages: tuple[str, ...] = ()          # ISO codes allowed (e.g. ("en",)); empty = no language filter
    min_language_score: float = 0.0          # CLD2 percent of text in the top language, 0..100
    max_mean_word_length: float = 0.0        # 0 = off; Gopher keeps 3..10
    min_mean_word_length: float = 0.0
    max_symbol_ratio: float = 0.0            # '#' and '...' per word; Gopher 0.1
    max_ellipsis_lines: float = 0.0          # share of lines ending in ... ; Gopher 0.3
    max_bullet_lines: float = 0.0            # share of lines starting with a bullet; Gopher 0.9
    max_repeated_lines: float = 0.0          # share of lines that repeat an earlier line; Gopher 0.3
    max_top_ngram: float = 0.0               # share of characters in the most frequent word 2-gram; Gopher 0.2
    max_dup_ngram: float = 0.0               # share of characters in repeated word 5-grams; Gopher 0.15
    min_stop_words: int = 0                  # Gopher 2
    min_alpha_words: float = 0.0             # share of words with a letter; Gopher 0.8
    drop_lorem_ipsum: bool = False           # C4

    def __post_init__(self) -> None:
        if self.min_words < 0 or self.max_words < max(self.min_words, 1):
            raise ValueError(f"word bounds must satisfy 0 <= min_words <= max_words, got {self.min_words}..{self.max_words}")
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and v < 0:
                raise ValueError(f"{f.name} must be >= 0, got {v}")


PRESETS = {
    "web": FilterConfig(min_words=50, max_words=100_000, languages=("en",), min_language_score=50.0,
                        min_mean_word_length=3.0, max_mean_word_length=10.0, max_symbol_ratio=0.1,
                        max_ellipsis_lines=0.3, max_bullet_lines=0.9, max_repeated_lines=0.3,
                        max_top_ngram=0.2, max_dup_ngram=0.15, min_stop_words=2, min_alpha_words=0.8,
                        drop_lorem_ipsum=True),
    "labeled": FilterConfig(min_words=1, max_words=100_000, min_alpha_words=0.5),
}
REASONS = ("too_short", "too_long", "language", "mean_word_length", "symbol_ratio", "ellipsis_lines",
           "bullet_lines", "repeated_lines", "repeated_ngrams", "no_stop_words", "alpha_words", "lorem_ipsum")


def preset(name: str, **overrides) -> FilterConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


def detect_language(text: str) -> tuple[str, float]:
    """(ISO code or 'un', percent of the text in it)."""
    import pycld2

    try:
        reliable, _, details = pycld2.detect(text)
    except pycld2.error:  # CLD2 refuses some byte sequences; that is "unknown", not a crash
        return "un", 0.0
    code, percent = details[0][1], float(details[0][2])
    return (code, percent) if reliable or percent else ("un", 0.0)


def _ngram_shares(words: list[str], n: int) -> tuple[float, float]:
    """(share of characters in the most frequent n-gram, share in n-grams that occur more than once)."""
    if len(words) < n:
        return 0.0, 0.0
    grams = list(zip(*(words[k:] for k in range(n))))
    counts = Counter(grams)
    top, top_n = counts.most_common(1)[0]
    if top_n < 2:
        return 0.0, 0.0
    total = sum(map(len, words)) or 1
    top_share = sum(map(len, top)) * top_n / total
    covered = [False] * len(words)
    for i, g in enumerate(grams):
        if counts[g] > 1:
            covered[i:i + n] = [True] * n
    dup_share = sum(len(w) for w, c in zip(words, covered) if c) / total
    return top_share, dup_share


def check(text: str, cfg: FilterConfig) -> tuple[str | None, str | None, str | None]:
    """(reason, detail, language) - reason None when the document passes every enabled filter."""
    words = text.split()
    lower = text.lower().split()
    m: dict = {"mean_len": sum(map(len, words)) / max(len(words), 1)}
    if cfg.drop_lorem_ipsum:
        m["lorem"] = "lorem ipsum" in text.lower()
    if cfg.max_symbol_ratio:
        m["symbols"] = (text.count("#") + text.count("...") + text.count("…")) / max(len(words), 1)
    lines = [line for line in text.split("\n") if line.strip()]
    if cfg.max_ellipsis_lines:
        m["ellipsis"] = sum(line.rstrip().endswith(("...", "…")) for line in lines) / max(len(lines), 1)
    if cfg.max_bullet_lines:
        m["bullets"] = sum(line.lstrip().startswith(_BULLETS) for line in lines) / max(len(lines), 1)
    if cfg.max_repeated_lines:
        m["repeated"] = 1 - len(set(lines)) / len(lines) if len(lines) > 1 else 0.0
    if cfg.max_top_ngram or cfg.max_dup_ngram:
        m["top2"], _ = _ngram_shares(lower, 2)
        _, m["dup5"] = _ngram_shares(lower, 5)
    if cfg.min_stop_words:
        m["stop"] = sum(1 for w in lower if w in STOP_WORDS)
    if cfg.min_alpha_words:
        m["alpha"] = len(_ALPHA_WORD.findall(text)) / max(len(words), 1)
    return _verdict(text, len(words), m, cfg)


# ---------------------------------------------------------------- a whole batch at once

Verdict = tuple[str | None, str | None, str | None]


def _splitmix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (a bijection on 64 bits; wrapping multiplication is intended)."""
    with np.errstate(over="ignore"):
        z = (z + np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _np(arr: pa.Array) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _words(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The words of each text as ``str.split()`` gives them: (all words in order, index of their text).

    Arrow's Unicode whitespace is Python's (checked for every character). Its split treats a run inside a
    text as one separator but leaves "" at untrimmed ends, so texts are trimmed first; an empty text then
    still splits into one "", which is dropped."""
    trimmed = pc.utf8_trim_whitespace(arr)
    split = pc.utf8_split_whitespace(trimmed)
    words, owner = pc.list_flatten(split), _np(pc.list_parent_indices(split))
    empty = _np(pc.equal(pc.utf8_length(trimmed), 0))
    if empty.any():
        keep = ~empty[owner]
        words, owner = words.filter(pa.array(keep)), owner[keep]
    return words, owner


def word_counts(texts: Sequence[str]) -> np.ndarray:
    """``len(t.split())`` for each text."""
    return np.bincount(_words(pa.array(texts, pa.string()))[1], minlength=len(texts))


def _per_doc(parent: np.ndarray, mask: np.ndarray | None, n_docs: int, weights=None) -> np.ndarray:
    if mask is not None:
        parent, weights = parent[mask], None if weights is None else weights[mask]
    return np.bincount(parent, weights=weights, minlength=n_docs)


def _ngram_shares_batch(ids: np.ndarray, lens: np.ndarray, parent: np.ndarray, n_docs: int,
                        n: int) -> tuple[np.ndarray, np.ndarray]:
    """``_ngram_shares`` for every document: ids/lens/parent describe all tokens of the batch in order."""
    top, dup = np.zeros(n_docs), np.zeros(n_docs)
    m = len(ids) - n + 1
    starts = np.flatnonzero(parent[:m] == parent[n - 1:]) if m > 0 else np.zeros(0, dtype=np.int64)
    if not len(starts):
        return top, dup
    owner = parent[starts]
    key = _splitmix(owner.astype(np.uint64))
    chars = np.zeros(len(starts), dtype=np.int64)
    for k in range(n):  # a 64-bit hash of (document, the n token ids), each step through a bijective mixer
        key = _splitmix(key ^ ids[starts + k].astype(np.uint64))
        chars += lens[starts + k]
    codes, _ = pd.factorize(key)
    count = np.bincount(codes)[codes]  # how often each occurrence's n-gram occurs in its document
    total = np.bincount(parent, weights=lens, minlength=n_docs)
    total[total == 0] = 1
    top_n = np.zeros(n_docs, dtype=np.int64)
    np.maximum.at(top_n, owner, count)
    first = np.zeros(n_docs, dtype=np.int64)  # Counter.most_common: the first n-gram reaching the top count
    at_top = np.flatnonzero(count == top_n[owner])  # ascending, and owner is sorted
    docs, at = np.unique(owner[at_top], return_index=True)
    first[docs] = at_top[at]
    has = top_n >= 2
    top[has] = chars[first[has]] * top_n[has] / total[has]
    edge = np.zeros(len(ids) + 1, dtype=np.int64)
    repeated = starts[count > 1]
    np.add.at(edge, repeated, 1)
    np.add.at(edge, repeated + n, -1)
    covered = np.cumsum(edge[:-1]) > 0
    dup = _per_doc(parent, covered, n_docs, lens) / total
    return top, dup


def check_batch(texts: Sequence[str], cfg: FilterConfig) -> list[Verdict]:
    """``[check(t, cfg) for t in texts]``, computed over the whole batch with Arrow kernels and numpy.

    Arrow lower-cases character by character; the few documents where Python's ``str.lower`` differs
    (U+0130 becomes two characters, a final sigma) go through ``check`` one at a time. Repeated n-grams are
    counted by a 64-bit hash of (document, token ids); a collision (odds ~1e-9 per batch) could only raise
    a count."""
    n_docs = len(texts)
    if not n_docs:
        return []
    arr = pa.array(texts, pa.string())
    lower_docs = pc.utf8_lower(arr)
    wide = np.flatnonzero(~_np(pc.string_is_ascii(arr)))
    odd = {i for i, low in zip(wide, lower_docs.take(wide).to_pylist()) if texts[i].lower() != low}
    words, parent = _words(lower_docs)
    vocab = pc.dictionary_encode(words)
    ids = _np(vocab.indices)
    lens = _np(pc.utf8_length(vocab.dictionary)).astype(np.int64)[ids]
    n = np.bincount(parent, minlength=n_docs)
    per_word = np.maximum(n, 1)
    metric: dict[str, np.ndarray] = {"mean_len": _per_doc(parent, None, n_docs, lens) / per_word}
    if cfg.drop_lorem_ipsum:
        metric["lorem"] = _np(pc.match_substring(lower_docs, "lorem ipsum"))
    if cfg.max_symbol_ratio:
        metric["symbols"] = sum(_np(pc.count_substring(arr, s)) for s in ("#", "...", "…")) / per_word
    if cfg.max_ellipsis_lines or cfg.max_bullet_lines or cfg.max_repeated_lines:
        split = pc.split_pattern(arr, "\n")
        lines, owner = pc.list_flatten(split), _np(pc.list_parent_indices(split))
        full = _np(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(lines)), 0))
        n_lines = _per_doc(owner, full, n_docs)
        per_line = np.maximum(n_lines, 1)
        if cfg.max_ellipsis_lines:
            end = pc.utf8_rtrim_whitespace(lines)
            ell = full & (_np(pc.ends_with(end, "...")) | _np(pc.ends_with(end, "…")))
            metric["ellipsis"] = _per_doc(owner, ell, n_docs) / per_line
        if cfg.max_bullet_lines:
            bullet = full & _np(pc.match_substring_regex(pc.utf8_ltrim_whitespace(lines), _BULLETS_RE2))
            metric["bullets"] = _per_doc(owner, bullet, n_docs) / per_line
        if cfg.max_repeated_lines:
            line_ids = _np(pc.dictionary_encode(lines).indices).astype(np.int64)
            distinct = pd.unique((owner.astype(np.int64) << 32 | line_ids)[full]) >> 32
            metric["repeated"] = np.where(n_lines > 1, 1 - np.bincount(distinct, minlength=n_docs) / per_line, 0.0)
    if cfg.max_top_ngram or cfg.max_dup_ngram:
        metric["top2"], _ = _ngram_shares_batch(ids, lens, parent, n_docs, 2)
        _, metric["dup5"] = _ngram_shares_batch(ids, lens, parent, n_docs, 5)
    if cfg.min_stop_words:
        stop = _np(pc.is_in(vocab.dictionary, pa.array(sorted(STOP_WORDS))))[ids]
        metric["stop"] = _per_doc(parent, stop, n_docs)
    if cfg.min_alpha_words:
        alpha = _np(pc.match_substring_regex(vocab.dictionary, _ALPHA_RE2))[ids]
        metric["alpha"] = _per_doc(parent, alpha, n_docs) / per_word

    return [check(text, cfg) if i in odd else _verdict(text, int(n[i]), {k: v[i] for k, v in metric.items()}, cfg)
            for i, text in enumerate(texts)]


# (FilterConfig field, measure, reason, detail), checked in this order after the word-length rule
_CEILINGS = (
    ("max_symbol_ratio", "symbols", "symbol_ratio", "{v:.2f} symbols per word > {limit:g}"),
    ("max_ellipsis_lines", "ellipsis", "ellipsis_lines", "{v:.2f} of lines end in an ellipsis"),
    ("max_bullet_lines", "bullets", "bullet_lines", "{v:.2f} of lines start with a bullet"),
    ("max_repeated_lines", "repeated", "repeated_lines", "{v:.2f} of lines are repeats"),
    ("max_top_ngram", "top2", "repeated_ngrams", "top 2-gram covers {v:.2f} of characters"),
    ("max_dup_ngram", "dup5", "repeated_ngrams", "repeated 5-grams cover {v:.2f} of characters"),
)
_FLOORS = (
    ("min_stop_words", "stop", "no_stop_words", "{v} stop words < {limit}"),
    ("min_alpha_words", "alpha", "alpha_words", "{v:.2f} of words have a letter < {limit:g}"),
)


def _verdict(text: str, n: int, m: dict, cfg: FilterConfig) -> Verdict:
    """The order and wording of ``check``, from measures already taken."""
    if n < cfg.min_words:
        return "too_short", f"{n} words < {cfg.min_words}", None
    if n > cfg.max_words:
        return "too_long", f"{n} words > {cfg.max_words}", None
    language = None
    if cfg.languages:
        language, score = detect_language(text)
        if language not in cfg.languages or score < cfg.min_language_score:
            return "language", f"{language} ({score:.0f}%) not in {','.join(cfg.languages)}", language
    if cfg.drop_lorem_ipsum and m["lorem"]:
        return "lorem_ipsum", "contains 'lorem ipsum'", language
    mean_len = m["mean_len"]
    if (cfg.min_mean_word_length and mean_len < cfg.min_mean_word_length) or \
            (cfg.max_mean_word_length and mean_len > cfg.max_mean_word_length):
        return "mean_word_length", f"{mean_len:.1f} outside {cfg.min_mean_word_length:g}..{cfg.max_mean_word_length:g}", language
    for limit, key, reason, detail in _CEILINGS:
        if getattr(cfg, limit) and m[key] > getattr(cfg, limit):
            return reason, detail.format(v=m[key], limit=getattr(cfg, limit)), language
    for limit, key, reason, detail in _FLOORS:
        if getattr(cfg, limit) and m[key] < getattr(cfg, limit):
            return reason, detail.format(v=m[key], limit=getattr(cfg, limit)), language
    return None, None, language
