"""Document filters, each switchable, each with its own quarantine reason; presets ``web`` and ``labeled``.

Quality heuristics follow Gopher (Rae et al. 2021, as implemented in datatrove) and C4: mean word
length, symbol-to-word ratio, lines ending in an ellipsis or starting with a bullet, repeated lines and
repeated n-grams, stop-word presence, share of words with a letter, "lorem ipsum". Language ID is CLD2
(``pycld2``: the model is compiled into the wheel, nothing is downloaded).

``web`` is strict, for crawled pages. ``labeled`` is light, for short labeled texts (reviews, quotes,
titles): a clean one-sentence document passes it; only empty or symbol/garbage text is dropped.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, fields, replace

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
_BULLETS = ("•", "●", "○", "■", "□", "▪", "‣", "–", "-", "*", "·")
_ALPHA_WORD = re.compile(r"(?:^|\s)\S*?[^\W\d_]")  # a word holding at least one letter


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
    n = len(words)
    if n < cfg.min_words:
        return "too_short", f"{n} words < {cfg.min_words}", None
    if n > cfg.max_words:
        return "too_long", f"{n} words > {cfg.max_words}", None
    language = None
    if cfg.languages:
        language, score = detect_language(text)
        if language not in cfg.languages or score < cfg.min_language_score:
            return "language", f"{language} ({score:.0f}%) not in {','.join(cfg.languages)}", language
    if cfg.drop_lorem_ipsum and "lorem ipsum" in text.lower():
        return "lorem_ipsum", "contains 'lorem ipsum'", language
    mean_len = sum(map(len, words)) / n
    if (cfg.min_mean_word_length and mean_len < cfg.min_mean_word_length) or \
            (cfg.max_mean_word_length and mean_len > cfg.max_mean_word_length):
        return "mean_word_length", f"{mean_len:.1f} outside {cfg.min_mean_word_length:g}..{cfg.max_mean_word_length:g}", language
    if cfg.max_symbol_ratio:
        ratio = (text.count("#") + text.count("...") + text.count("…")) / n
        if ratio > cfg.max_symbol_ratio:
            return "symbol_ratio", f"{ratio:.2f} symbols per word > {cfg.max_symbol_ratio:g}", language
    lines = [line for line in text.split("\n") if line.strip()]
    if cfg.max_ellipsis_lines and lines:
        share = sum(line.rstrip().endswith(("...", "…")) for line in lines) / len(lines)
        if share > cfg.max_ellipsis_lines:
            return "ellipsis_lines", f"{share:.2f} of lines end in an ellipsis", language
    if cfg.max_bullet_lines and lines:
        share = sum(line.lstrip().startswith(_BULLETS) for line in lines) / len(lines)
        if share > cfg.max_bullet_lines:
            return "bullet_lines", f"{share:.2f} of lines start with a bullet", language
    if cfg.max_repeated_lines and len(lines) > 1:
        share = 1 - len(set(lines)) / len(lines)
        if share > cfg.max_repeated_lines:
            return "repeated_lines", f"{share:.2f} of lines are repeats", language
    lower = text.lower().split()
    if cfg.max_top_ngram or cfg.max_dup_ngram:
        top, _ = _ngram_shares(lower, 2)
        _, dup = _ngram_shares(lower, 5)
        if cfg.max_top_ngram and top > cfg.max_top_ngram:
            return "repeated_ngrams", f"top 2-gram covers {top:.2f} of characters", language
        if cfg.max_dup_ngram and dup > cfg.max_dup_ngram:
            return "repeated_ngrams", f"repeated 5-grams cover {dup:.2f} of characters", language
    if cfg.min_stop_words:
        found = sum(1 for w in lower if w in STOP_WORDS)
        if found < cfg.min_stop_words:
            return "no_stop_words", f"{found} stop words < {cfg.min_stop_words}", language
    if cfg.min_alpha_words:
        share = len(_ALPHA_WORD.findall(text)) / n
        if share < cfg.min_alpha_words:
            return "alpha_words", f"{share:.2f} of words have a letter < {cfg.min_alpha_words:g}", language
    return None, None, language
