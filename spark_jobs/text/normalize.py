"""Normalisation: Unicode form, markup to text, control characters, whitespace, boilerplate lines.

Stated repairs (never rejects): NUL and other control characters are removed (tab and newline kept);
HTML/XML markup becomes its text (script/style/head dropped, block tags become line breaks, entities
decoded); spaces are collapsed within a line, blank-line runs to one; lines that are boilerplate (cookie
banners, "all rights reserved", share/subscribe/login prompts, "javascript required") are dropped when
short, since a long line that mentions cookies is content.

``normalize`` is the rule for one document; ``normalize_batch`` applies it to a whole Arrow batch with
pyarrow kernels (RE2 character classes spelled out to match Python's Unicode whitespace), sending only the
documents that hold markup or a boilerplate phrase through ``normalize`` one at a time. Tests compare them.
"""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\ufeff]")
_MARKUP = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9]*\b[^<>]*|/[a-zA-Z][a-zA-Z0-9]*\s*|!--.*?--)>", re.S)
_DROP_BLOCKS = re.compile(r"<(script|style|head|noscript|template)\b.*?</\1\s*>", re.S | re.I)
_BREAK_TAGS = re.compile(r"<\s*/?\s*(?:br|p|div|li|ul|ol|tr|td|th|h[1-6]|section|article|header|footer|"
                         r"blockquote|pre|table|title|nav|aside)\b[^>]*>", re.I)
_SPACES = re.compile(r"[^\S\n]+")
_BLANKS = re.compile(r"\n{3,}")
_BOILERPLATE = re.compile(
    r"\b(?:cookies?|all rights reserved|privacy policy|terms of (?:use|service)|subscribe to|sign (?:in|up)|"
    r"log ?in|share (?:on|this)|click here|javascript|newsletter|skip to (?:main )?content|"
    r"accept all|powered by)\b", re.I)
BOILERPLATE_MAX_WORDS = 12


def looks_like_markup(text: str) -> bool:
    return _MARKUP.search(text) is not None and text.count("<") >= 2


def markup_to_text(text: str) -> str:
    text = _DROP_BLOCKS.sub(" ", text)
    text = _BREAK_TAGS.sub("\n", text)
    text = _MARKUP.sub(" ", text)
    return html.unescape(text)


def normalize(text: str, form: str = "NFC", strip_markup: bool = True, drop_boilerplate: bool = True) -> tuple[str, int]:
    """Returns (normalised text, boilerplate lines removed)."""
    if strip_markup and looks_like_markup(text):
        text = markup_to_text(text)
    text = unicodedata.normalize(form, text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    dropped = 0
    if drop_boilerplate:
        kept = []
        for line in lines:
            if line and len(line.split()) <= BOILERPLATE_MAX_WORDS and _BOILERPLATE.search(line):
                dropped += 1
            else:
                kept.append(line)
        lines = kept
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip(), dropped


# The same classes for Arrow's RE2, whose \s is ASCII-only: _CONTROL as is, and _SPACES ([^\S\n], Python's
# Unicode whitespace but the newline) less what _CONTROL has removed by then (\x0b\x0c\x1c-\x1f\x85; \r is \n).
_CONTROL_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\x{200b}\x{feff}]"
_OTHER_SPACE = r"\t\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
# A run of two or more, or one that is not a plain space (rewriting every single space is 8x slower in RE2).
_SPACES_RE2 = f"[ {_OTHER_SPACE}]{{2,}}|[{_OTHER_SPACE}]"
_BOILERPLATE_HINT_RE2 = "(?i)" + _BOILERPLATE.pattern.replace(r"\b", "")  # a superset of what _BOILERPLATE finds


def normalize_batch(texts: Sequence[str], form: str = "NFC", strip_markup: bool = True,
                    drop_boilerplate: bool = True) -> tuple[list[str], list[int]]:
    """``[normalize(t, ...) for t in texts]`` as (texts, boilerplate lines removed), over a whole batch."""
    if not texts:
        return [], []
    # Unicode form in Python (Arrow 14's utf8_normalize returns decomposed text for NFC); no character
    # composes with \r, so doing it before the line-break rewrite changes nothing.
    arr = pa.array([unicodedata.normalize(form, t) for t in texts], pa.string())
    slow = np.zeros(len(texts), dtype=bool)
    if strip_markup:
        slow |= pc.match_substring(arr, "<").to_numpy(zero_copy_only=False)
    if drop_boilerplate:
        slow |= pc.match_substring_regex(arr, _BOILERPLATE_HINT_RE2).to_numpy(zero_copy_only=False)
    out = pc.replace_substring(pc.replace_substring(arr, "\r\n", "\n"), "\r", "\n")
    out = pc.replace_substring_regex(out, _CONTROL_RE2, "")
    out = pc.replace_substring_regex(out, _SPACES_RE2, " ")
    out = pc.replace_substring_regex(pc.replace_substring_regex(out, " ?\n ?", "\n"), "\n{3,}", "\n\n")
    result = pc.utf8_trim(out, " \n").to_pylist()
    dropped = [0] * len(texts)
    for i in np.flatnonzero(slow):
        result[i], dropped[i] = normalize(texts[i], form, strip_markup, drop_boilerplate)
    return result, dropped
