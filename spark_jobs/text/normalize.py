"""Normalisation: Unicode form, markup to text, control characters, whitespace, boilerplate lines.

Stated repairs (never rejects): NUL and other control characters are removed (tab and newline kept);
HTML/XML markup becomes its text (script/style/head dropped, block tags become line breaks, entities
decoded); spaces are collapsed within a line, blank-line runs to one; lines that are boilerplate (cookie
banners, "all rights reserved", share/subscribe/login prompts, "javascript required") are dropped when
short, since a long line that mentions cookies is content.
"""
from __future__ import annotations

import html
import re
import unicodedata

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
