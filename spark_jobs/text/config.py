"""The text cleaning transform's configuration, built from the run's ``[text]`` settings. Its own module so the
readers (``read.py``) and the transform (``clean.py``) both use it without importing each other."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from shardline.settings import TextSettings
from spark_jobs.text import quality

_TEXT = TextSettings()


@dataclass(frozen=True)
class TextCleanConfig:
    """What the text transform needs, built from the run's ``[text]`` settings (``from_settings``); the
    defaults are those settings' defaults, never a second copy."""
    text_field: str = _TEXT.text_field
    label_field: str = _TEXT.label_field
    id_field: str = _TEXT.id_field
    normal_form: str = _TEXT.normal_form  # NFC, or NFKC (folds compatibility characters: ﬁ -> fi, ① -> 1)
    strip_markup: bool = _TEXT.strip_markup
    drop_boilerplate: bool = _TEXT.drop_boilerplate
    redact_pii: bool = _TEXT.redact_pii
    max_doc_bytes: int = _TEXT.max_doc_bytes
    root_uri: str = ""                    # for .txt corpora: ids and labels from the path under the root
    filters: quality.FilterConfig = field(default_factory=lambda: quality.PRESETS[_TEXT.preset])

    def __post_init__(self) -> None:
        replace(_TEXT, normal_form=self.normal_form, max_doc_bytes=self.max_doc_bytes)

    @classmethod
    def from_settings(cls, text: TextSettings, root_uri: str = "",
                      filters: quality.FilterConfig | None = None) -> "TextCleanConfig":
        """The run's settings; ``filters`` default to the preset's."""
        return cls(text.text_field, text.label_field, text.id_field, text.normal_form,
                   strip_markup=text.strip_markup, drop_boilerplate=text.drop_boilerplate,
                   redact_pii=text.redact_pii, max_doc_bytes=text.max_doc_bytes, root_uri=root_uri,
                   filters=filters or quality.preset(text.preset))
