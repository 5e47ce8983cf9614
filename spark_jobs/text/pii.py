"""PII redaction: e-mail addresses, phone numbers and IP addresses become placeholders, counted."""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PLACEHOLDERS = {"email": "<EMAIL>", "phone": "<PHONE>", "ip": "<IP>"}
_DIGIT = re.compile(r"\d")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_IPV6 = re.compile(r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b")
# International or North American style numbers with at least 9 digits: +44 20 7946 0958, (555) 123-4567,
# 555.123.4567. Plain long digit runs (ids, years, prices) are not phones.
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}(?:[\s.-]\d{2,4})?(?!\w)")


def redact(text: str) -> tuple[str, dict[str, int]]:
    counts = {"email": 0, "ip": 0, "phone": 0}
    if "@" in text:
        text, counts["email"] = _EMAIL.subn(PLACEHOLDERS["email"], text)
    if not _DIGIT.search(text):  # IPs and phones need digits: most documents stop here
        return text, counts
    text, n4 = _IPV4.subn(PLACEHOLDERS["ip"], text)
    text, n6 = _IPV6.subn(PLACEHOLDERS["ip"], text) if ":" in text else (text, 0)
    counts["ip"] = n4 + n6
    before = text.count(PLACEHOLDERS["phone"])
    text = _PHONE.sub(lambda m: PLACEHOLDERS["phone"] if sum(c.isdigit() for c in m.group()) >= 9 else m.group(), text)
    counts["phone"] = text.count(PLACEHOLDERS["phone"]) - before
    return text, counts


def may_hold_pii(texts: Sequence[str]) -> np.ndarray:
    """Per text: could ``redact`` change it (an '@' or a digit)? Over a whole batch at once; RE2's \\p{Nd}
    is a superset of Python's \\d (a newer Unicode), so no text that holds PII is skipped."""
    if not texts:
        return np.zeros(0, dtype=bool)
    return pc.match_substring_regex(pa.array(texts, pa.string()), r"@|\p{Nd}").to_numpy(zero_copy_only=False)
