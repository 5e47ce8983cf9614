"""Every setting of the pipeline, each written once: name, type, default, bounds and help (docs/CONFIG.md).

The TOML configuration file, the jobs' flags (``--config FILE``, ``--set section.key=value`` and their named
flags), ``shardline run``'s single-field overrides and the DAG's Params are all derived from the dataclasses
below; the jobs' own configs (``ImageCleanConfig.from_settings`` ...) and training's model configs are built
from them. Defaults serve real photos and real text; the bundled digits demo has its own file
(``shardline/configs/demo.toml``). A wrong key or value is one error line naming it.

Foundation code: imports nothing of Spark, TensorFlow or Airflow.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import operator
import os
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from shardline.config import ShardlineError, unescaped
from shardline.storage import write_text_atomic

CONFIG_DIR = Path(__file__).with_name("configs")
DEMO_CONFIG = CONFIG_DIR / "demo.toml"

IMAGE_HASHES = ("phash", "dcthash", "trimmed_dcthash", "coarse_dcthash", "small_dcthash", "dhash")  # each implemented in spark_jobs/imaging/phash.HASHES (a test keeps them equal)
# Hashes that only some pictures have (small_dcthash: pictures of phash.SMALL_SIDE px and less), so never the
# first of a list: the first is every picture's perceptual_hash
PARTIAL_HASHES = ("small_dcthash",)
MAX_IMAGE_SIDE = 4096  # the largest output side the image job writes
# A pair found through a guarded hash is a candidate only if it is also within GUARD_REACH bits on its guard
# (listed beside it): coarse_dcthash sees crops well and unrelated pictures less well (spark_jobs/imaging/phash.py)
HASH_GUARDS = {"coarse_dcthash": "trimmed_dcthash"}
GUARD_REACH = 18  # bits of 64: unrelated pictures are about 32 apart (docs/IMAGE_CLEANING.md)


def hash_names(value: str) -> tuple[str, ...]:
    """The one parser of a comma list of perceptual hashes (``images.near_dup_hash``): the names in order,
    each known and given once, a guarded hash with its guard, a partial one (``PARTIAL_HASHES``) not first."""
    names = tuple(n.strip() for n in value.split(","))
    if not all(n in IMAGE_HASHES for n in names) or len(set(names)) != len(names):
        raise ValueError(f"must be one or more of {', '.join(IMAGE_HASHES)}, comma-separated, each once, "
                         f"got {value!r}")
    if names[0] in PARTIAL_HASHES:
        raise ValueError(f"starts with {names[0]}, which only some pictures have: the first hash is every "
                         f"picture's perceptual_hash, so list another first, got {value!r}")
    for name in names:
        if name in HASH_GUARDS and HASH_GUARDS[name] not in names:
            raise ValueError(f"lists {name} without {HASH_GUARDS[name]}: a pair {name} finds is checked on "
                             f"{HASH_GUARDS[name]}, so list both, got {value!r}")
    return names


def setting(default: Any, help: str, *, choices: Sequence[Any] | None = None, ge: float | None = None,
            le: float | None = None, gt: float | None = None, lt: float | None = None,
            each: Sequence[Any] | None = None, override: str | None = None, flag: str | bool | None = None,
            style: str = "value") -> Any:
    """A field of a settings section. ``ge``/``le``/``gt``/``lt``: bounds; ``choices``: allowed values (``each``:
    of every element of a list); ``override``: the single-field override name of ``shardline run`` and the DAG
    (several fields may share one); ``flag``: the job flag that sets it (True: ``--key-with-dashes``), with
    ``style`` value, negate (a store-true flag that sets false), onoff (``on``/``off``) or bool
    (``--x``/``--no-x``)."""
    meta = {"help": help, "choices": tuple(choices) if choices else None, "ge": ge, "le": le, "gt": gt, "lt": lt,
            "each": tuple(each) if each else None, "override": override, "flag": flag, "style": style}
    return field(default=default, metadata=meta)


_BOUNDS = (("ge", ">=", operator.ge), ("gt", ">", operator.gt), ("le", "<=", operator.le), ("lt", "<", operator.lt))


def _bounds_text(m: Mapping[str, Any], value: float | None = None) -> str:
    """The bound ``value`` breaks (every bound when ``value`` is None), e.g. ``>= 8`` or ``>= 1 and <= 100``."""
    return " and ".join(f"{op} {m[k]}" for k, op, holds in _BOUNDS
                        if m[k] is not None and (value is None or not holds(value, m[k])))


def _in_bounds(v: float, m: Mapping[str, Any]) -> bool:
    return all(m[k] is None or holds(v, m[k]) for k, _, holds in _BOUNDS)


class Section:
    """Generic validation from each field's metadata, then the section's own rules (``_check``)."""
    NAME: ClassVar[str]

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                value = tuple(value)
                object.__setattr__(self, f.name, value)
            if is_dataclass(value) or not f.metadata:
                continue
            m, where = f.metadata, f"{self.NAME}{'' if self.NAME.endswith('_') else '.'}{f.name}"
            if m["choices"] and value not in m["choices"]:
                raise ValueError(f"{where} must be one of {', '.join(map(repr, m['choices']))}, got {value!r}")
            bounded = any(m[k] is not None for k in ("ge", "le", "gt", "lt"))
            if isinstance(value, tuple):
                for v in value:
                    if m["each"] and v not in m["each"]:
                        raise ValueError(f"{where} must list only {', '.join(map(repr, m['each']))}, got {v!r}")
                    if bounded and (not isinstance(v, int) or isinstance(v, bool) or not _in_bounds(v, m)):
                        raise ValueError(f"{where} must be a list of integers {_bounds_text(m)}, got {list(value)}")
            elif bounded and not _in_bounds(value, m):
                raise ValueError(f"{where} must be {_bounds_text(m, value)}, got {value!r}")
        self._check()

    def _check(self) -> None:
        pass


@dataclass(frozen=True)
class ImagesSettings(Section):
    """``spark_jobs/clean_images.py`` (and the corpus input of batch inference)."""
    NAME: ClassVar[str] = "images"
    size: int = setting(96, "output side in px (square); photos need more than the digits' 28",
                        ge=8, le=MAX_IMAGE_SIDE, override="image_size")
    mode: str = setting("RGB", "output colour mode: RGB or L (grayscale)", choices=("RGB", "L"),
                        override="image_mode", flag=True)
    resize: str = setting("pad", "pad (keep aspect and pad), crop (centre crop) or stretch",
                          choices=("pad", "crop", "stretch"), override="image_resize", flag=True)
    format: str = setting("PNG", "re-encode the stored picture as PNG or JPEG", choices=("PNG", "JPEG"), flag=True)
    jpeg_quality: int = setting(90, "JPEG quality of the stored picture when format is JPEG", ge=1, le=100,
                                flag=True)
    background: str = setting("white", "colour under transparent pixels (a name or #rrggbb)", flag=True)
    pad_color: str = setting("black", "colour of the bars added by resize = pad (a name or #rrggbb)", flag=True)
    min_size: int = setting(8, "originals with a smaller side (px) are quarantined as too_small", ge=1, flag=True)
    max_pixels: int = setting(50_000_000, "decompression-bomb limit: header width x height", ge=1, flag=True)
    max_file_bytes: int = setting(256 * 2**20, "larger files are quarantined as too_large without being read",
                                  ge=1, flag=True)
    near_dup_hash: str = setting("trimmed_dcthash,coarse_dcthash,small_dcthash",
                                 "perceptual hashes of near-duplicate candidates, comma-separated: the union "
                                 "(the first is stored as perceptual_hash)", flag="--hash")
    near_dup_threshold: int = setting(10, "hash bits (of 64) apart for near-duplicate candidates; -1 turns "
                                          "matching off", ge=-1, le=63, override="image_near_dup_threshold",
                                      flag=True)
    near_dup_max_difference: float = setting(0.33, "thumbnail block difference that confirms a candidate "
                                                   "(inf: no check)", ge=0, flag=True)
    lsh_tables: int = setting(64, "LSH tables of the near-duplicate candidates", ge=1, flag=True)
    lsh_bits: int = setting(14, "hash bits sampled per LSH table", ge=1, le=64, flag=True)
    max_bucket: int = setting(1000, "LSH bucket size before the skew guard applies", ge=2, flag=True)

    def _check(self) -> None:
        try:
            hash_names(self.near_dup_hash)
        except ValueError as exc:
            raise ValueError(f"images.near_dup_hash {exc}") from None
        if math.isnan(self.near_dup_max_difference):
            raise ValueError("images.near_dup_max_difference must be >= 0, got nan")


@dataclass(frozen=True)
class TextSettings(Section):
    """``spark_jobs/clean_text.py`` (and the corpus input of batch inference)."""
    NAME: ClassVar[str] = "text"
    preset: str = setting("labeled", "filter preset: labeled (light, short labeled texts) or web (strict "
                                     "filters for crawls)", choices=("labeled", "web"), override="text_preset",
                          flag=True)
    text_field: str = setting("text", "the JSON/CSV/Parquet field holding a record's text", override="text_field",
                              flag=True)
    label_field: str = setting("label", "the field holding a record's label", override="label_field", flag=True)
    id_field: str = setting("id", "the field holding a record's id", override="id_field", flag=True)
    normal_form: str = setting("NFC", "Unicode normal form: NFC, or NFKC (folds compatibility characters)",
                               choices=("NFC", "NFKC"), flag=True)
    strip_markup: bool = setting(True, "HTML/XML markup to text", flag="--keep-markup", style="negate")
    drop_boilerplate: bool = setting(True, "drop cookie/navigation/copyright lines", flag="--keep-boilerplate",
                                     style="negate")
    redact_pii: bool = setting(True, "redact e-mails, phone numbers, IP addresses", flag="--no-pii",
                               style="negate")
    max_doc_bytes: int = setting(1_000_000, "larger records are quarantined as too_large", ge=1, flag=True)
    near_dup: bool = setting(True, "MinHash LSH near-duplicate matching", flag=True, style="onoff")
    ngram: int = setting(2, "shingle size of the MinHash candidates (word bigrams)", ge=1, flag=True)
    shingle: str = setting("word", "word or char shingles", choices=("word", "char"), flag=True)
    minhash_bands: int = setting(40, "MinHash LSH bands (40 x 4: a pair at bigram Jaccard 0.55 becomes a "
                                     "candidate with p = 0.978)", ge=1, flag="--bands")
    minhash_rows: int = setting(4, "MinHash values per band (permutations = bands x rows)", ge=1, flag="--rows")
    threshold: float = setting(0.85, "shared words (in order, of the longer text) that make a near duplicate",
                               gt=0, le=1, flag=True)
    max_extra_words: int = setting(30, "... or the shorter text contained at threshold in one at most this "
                                       "many words longer", ge=0, flag=True)
    near_dup_min_words: int = setting(30, "shorter texts are near duplicates only with the same words", ge=0,
                                      flag=True)
    max_bucket: int = setting(1000, "LSH bucket size before the skew guard applies", ge=2, flag=True)


@dataclass(frozen=True)
class DatasetSettings(Section):
    """Publishing (``spark_jobs/publish_dataset.py``): the splits and the shard sizes (docs/DATASETS.md)."""
    NAME: ClassVar[str] = "dataset"
    train_fraction: float = setting(0.8, "share of the records in the train split", gt=0, lt=1, flag=True)
    val_fraction: float = setting(0.1, "share in the validation split (the rest is the test split)", ge=0, lt=1,
                                  flag=True)
    split_seed: str = setting("shardline", "split seed (changing it reshuffles every split)", flag="--seed")
    max_workers: int = setting(8, "the largest training worker count the shards are sized for", ge=1, flag=True)
    image_encoding: str = setting("auto", "auto: raw pixels for one image size of at most 64x64, else PNG",
                                  choices=("auto", "png", "raw"), flag=True)
    image_file_mb: float = setting(128.0, "target Parquet file size of image shards (MB)", gt=0)
    image_row_group_mb: float = setting(16.0, "largest row group of image shards (MB)", gt=0)
    text_file_mb: float = setting(64.0, "target Parquet file size of text shards (MB)", gt=0)
    text_row_group_mb: float = setting(4.0, "largest row group of text shards (MB)", gt=0)

    def _check(self) -> None:
        if self.train_fraction + self.val_fraction >= 1:
            raise ValueError(f"dataset.train_fraction + val_fraction must be < 1 (the test split needs rows), got "
                             f"{self.train_fraction} + {self.val_fraction}")


@dataclass(frozen=True)
class GateSettings(Section):
    """The validation gate's thresholds (``spark_jobs/validate_dataset.py``) and the rare-label policy that
    publishing applies first (``spark_jobs/publish_dataset.py``)."""
    NAME: ClassVar[str] = "gate"
    min_train_rows: int = setting(10, "the smallest train split the gate accepts", ge=1, flag=True)
    min_val_rows: int = setting(1, "the smallest validation split the gate accepts", ge=1, flag=True)
    min_test_rows: int = setting(1, "the smallest test split the gate accepts", ge=1, flag=True)
    min_train_rows_per_label: int = setting(5, "a label with fewer training rows is rare", ge=1, flag=True)
    rare_labels: str = setting("exclude", "exclude: rarer labels are left out of training and reported; fail: "
                                          "stop", choices=("exclude", "fail"), override="rare_labels", flag=True)
    max_label_psi: float = setting(0.2, "label drift (PSI) limit against the previous version; > 0.2 is the "
                                        "usual significant shift", gt=0, flag=True)
    max_size_psi: float = setting(0.25, "size drift (PSI) limit against the previous version", gt=0, flag=True)
    keep_versions: int = setting(5, "published dataset versions kept", ge=1, flag=True)


_SIZE = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")


@dataclass(frozen=True)
class QuerySettings(Section):
    """The limits of the query paths (``shardline query``, its ``--engine spark``, the Thrift server): a user
    cannot change them from SQL; they come from here."""
    NAME: ClassVar[str] = "query"
    statement_timeout_s: float = setting(60.0, "DuckDB: a statement still running after this many seconds is "
                                               "stopped", gt=0)
    memory_limit: str = setting("", "DuckDB's memory limit, e.g. 4GB; empty: a quarter of this machine's memory")
    spill_limit: str = setting("10GB", "the most DuckDB may spill to disk for one query, e.g. 10GB; 0GB turns "
                                       "spilling off")
    spark_timeout_s: float = setting(60.0, "Spark SQL (shardline query --engine spark, the Thrift server): a "
                                           "query still running after this many seconds is cancelled", gt=0)

    def _check(self) -> None:
        for name in ("memory_limit", "spill_limit"):
            value = getattr(self, name)
            if (value or name == "spill_limit") and not _SIZE.match(value):
                raise ValueError(f"query.{name} must be a size such as 512MB or 4GB, got {value!r}")

    def duckdb_memory_limit(self) -> str:
        if self.memory_limit:
            return self.memory_limit
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return f"{max(256, total // 4 // 2**20)}MB"


AUGMENTATIONS = ("flip", "crop", "color")


@dataclass(frozen=True)
class ImageModelSettings(Section):
    """The image network (``training/models.py``); in the file as ``[train] image_<name>``."""
    NAME: ClassVar[str] = "train.image_"
    conv_filters: tuple[int, ...] = setting((32, 64, 128, 256), "one residual stage each; all but the first "
                                                                "halve the size", ge=1)
    dense_units: int = setting(0, "hidden layer after pooling (0: none)", ge=0)
    dropout: float = setting(0.2, "dropout before the classifier", ge=0, lt=1)
    augment: tuple[str, ...] = setting(AUGMENTATIONS, "label-preserving random transforms while training",
                                       each=AUGMENTATIONS)
    pretrained: str = setting("", "MobileNetV2 no-top weights (.h5) to start from; empty: from scratch")
    pretrained_alpha: float = setting(1.0, "the width multiplier the pretrained file was saved with", gt=0)
    classic_features: bool = setting(True, "a wide branch on the baseline's pixels + HOG beside the network")
    classic_extra: bool = setting(True, "the wide branch also gets a coarser HOG and colour histograms")
    classic_l2: float = setting(0.01, "the wide branch's L2 penalty per weight", ge=0)
    classic_mix: str = setting("validation", "validation: trained apart, mixed by a weight chosen on the "
                                             "validation split; sum: logits added", choices=("validation", "sum"))
    mirror_average: bool = setting(True, "with flip augmentation: serve the mean over a picture and its mirror")

    @property
    def mirrors(self) -> bool:
        """Whether the served model predicts the mean over a picture and its mirror image: asked for, and the
        network was trained with flips."""
        return self.mirror_average and "flip" in self.augment


@dataclass(frozen=True)
class TextModelSettings(Section):
    """The text network (``training/models.py``); in the file as ``[train] text_<name>``."""
    NAME: ClassVar[str] = "train.text_"
    max_tokens: int = setting(50_000, "vocabulary per vectorizer (word n-grams, character n-grams)", ge=1)
    ngrams: int = setting(2, "word 1..n-grams", ge=1)
    char_ngrams: bool = setting(True, "also character 3-5-grams")
    hidden_units: int = setting(256, "hidden units of the MLP", ge=1)
    dropout: float = setting(0.4, "dropout on the TF-IDF input and the hidden layer", ge=0, lt=1)


@dataclass(frozen=True)
class TrainSettings(Section):
    """Training (``training/``, docs/TRAINING.md): the regime, the promotion gate, the models."""
    NAME: ClassVar[str] = "train"
    image_epochs: int = setting(30, "image epochs at most; early stopping on the validation loss ends most "
                                    "runs sooner", ge=1, override="epochs")
    text_epochs: int = setting(15, "text epochs at most", ge=1, override="epochs")
    batch_size: int = setting(64, "per worker; the global batch is batch_size x workers", ge=1, flag=True)
    learning_rate: float = setting(0.001, "peak of the cosine schedule", gt=0, lt=1, flag=True)
    workers: int = setting(1, "local training workers (MultiWorkerMirroredStrategy)", ge=1,
                           override="train_workers")
    seed: int = setting(42, "random seed of weights, shuffling and the search")
    shuffle_buffer: int = setting(1024, "rows in the training shuffle buffer", ge=1)
    promotion_tolerance: float = setting(0.01, "accuracy a candidate may lose to the champion and still be "
                                               "promoted", ge=0, le=1, override="promotion_tolerance",
                                         flag="--tolerance")
    baseline_policy: str = setting("refuse", "refuse, warn or off: a candidate that does not beat the "
                                             "scikit-learn baseline", choices=("refuse", "warn", "off"),
                                   override="baseline_policy", flag=True)
    baseline_margin: float = setting(0.0, "accuracy the candidate must beat the baseline by", gt=-1, lt=1,
                                     flag=True)
    serve_baseline: bool = setting(True, "when the baseline rule refuses the network, register the baseline "
                                         "and let it be champion", flag=True, style="bool")
    promotion_min_test_rows: int = setting(30, "a candidate judged on fewer test rows never replaces a champion "
                                               "(with none yet it serves, marked provisional)", ge=0, flag=True)
    promotion_min_test_per_label: int = setting(1, "... nor one with a label that has fewer test rows than this",
                                                ge=0, flag=True)
    class_weight: str = setting("sqrt", "long tails: none, sqrt (of balanced) or balanced loss weights",
                                choices=("none", "sqrt", "balanced"))
    min_steps_per_epoch: int = setting(50, "an epoch of a small dataset is at least this many steps (0: one "
                                           "pass)", ge=0)
    search_trials: int = setting(0, "random hyperparameter search trials before training (0: off)", ge=0,
                                 le=50, override="search_trials", flag=True)
    saved_model: bool = setting(True, "also export a TF SavedModel (saved_model/, for TF Serving) beside "
                                      "model.keras")
    image: ImageModelSettings = field(default_factory=ImageModelSettings)
    text: TextModelSettings = field(default_factory=TextModelSettings)

    def epochs(self, kind: str) -> int:
        return self.image_epochs if kind == "image" else self.text_epochs


@dataclass(frozen=True)
class ScoringSettings(Section):
    """Batch inference (``spark_jobs/batch_inference.py``)."""
    NAME: ClassVar[str] = "scoring"
    batch_size: int = setting(512, "rows per Arrow batch handed to the model", ge=1, flag=True)
    top_k: int = setting(3, "labels kept per row in top_k", ge=1, flag=True)


@dataclass(frozen=True)
class WarehouseSettings(Section):
    """The Delta Lake tables of the warehouse (``shardline warehouse vacuum``, docs/WAREHOUSE.md)."""
    NAME: ClassVar[str] = "warehouse"
    retention_days: float = setting(7.0, "vacuum keeps every file a table version of the last this many days "
                                         "uses (--as-of can read them); older replaced files are deleted", ge=0)


@dataclass(frozen=True)
class Settings:
    images: ImagesSettings = field(default_factory=ImagesSettings)
    text: TextSettings = field(default_factory=TextSettings)
    dataset: DatasetSettings = field(default_factory=DatasetSettings)
    gate: GateSettings = field(default_factory=GateSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    scoring: ScoringSettings = field(default_factory=ScoringSettings)
    query: QuerySettings = field(default_factory=QuerySettings)
    warehouse: WarehouseSettings = field(default_factory=WarehouseSettings)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """{section: {key: value}} as in the file (model settings flattened to ``image_<name>``)."""
        return {name: {key: value for key, _, value in _flat(getattr(self, name))} for name in SECTIONS}

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def to_toml(self) -> str:
        out = []
        for section, values in self.to_dict().items():
            out.append(f"[{section}]")
            out += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
            out.append("")
        return "\n".join(out)

    def with_overrides(self, overrides: Mapping[str, object]) -> "Settings":
        """``{"images.size": 64, ...}`` applied field by field (None values are skipped)."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            if section not in data or key not in data[section]:
                raise ShardlineError(f"unknown configuration field {dotted!r}")
            data[section][key] = value
        return from_dict(data, "overrides")


SECTIONS: dict[str, type] = {f.name: f.default_factory for f in fields(Settings)}  # type: ignore[misc]


def _flat(section: Section, prefix: str = "") -> Iterator[tuple[str, Field, Any]]:
    """(file key, field, value) of a section, nested model settings as ``<name>_<key>``."""
    for f in fields(section):
        value = getattr(section, f.name)
        if is_dataclass(value):
            yield from _flat(value, f"{prefix}{f.name}_")
        else:
            yield f"{prefix}{f.name}", f, value


def field_table() -> Iterator[tuple[str, Field, Any]]:
    """(``section.key``, field, default) of every setting, in file order."""
    defaults = Settings()
    for name in SECTIONS:
        for key, f, value in _flat(getattr(defaults, name)):
            yield f"{name}.{key}", f, value


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _kind_ok(value: object, want: type) -> bool:
    if want is bool or isinstance(value, bool):
        return want is bool and isinstance(value, bool)
    if want is float:
        return isinstance(value, (int, float))
    if want is tuple:
        return isinstance(value, (list, tuple))
    return isinstance(value, want)


def _section(cls: type, values: Mapping[str, Any], where: str, name: str) -> Section:
    """A validated section from its flat file keys (nested model settings by their prefix)."""
    default = cls()
    # file key -> (the nested model settings that hold it, or None; its field name there; its default)
    place: dict[str, tuple[str | None, str, Any]] = {}
    for f in fields(default):
        value = getattr(default, f.name)
        if is_dataclass(value):
            place.update({f"{f.name}_{g.name}": (f.name, g.name, getattr(value, g.name)) for g in fields(value)})
        else:
            place[f.name] = (None, f.name, value)
    own: dict[str, Any] = {}
    inner: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if key not in place:
            raise ShardlineError(f"{where}: unknown key {name}.{key} (known: {', '.join(place)})")
        owner, attr, dflt = place[key]
        want = type(dflt)
        if not _kind_ok(value, want):
            kind = "list" if want is tuple else want.__name__
            raise ShardlineError(f"{where}: {name}.{key} must be a {kind}, got {value!r}")
        (inner.setdefault(owner, {}) if owner else own)[attr] = float(value) if want is float else value
    try:
        for n, kw in inner.items():
            own[n] = replace(getattr(default, n), **kw)
        return replace(default, **own)
    except ValueError as exc:
        raise ShardlineError(f"{where}: {exc}") from None


def from_dict(data: Mapping[str, Any], where: str) -> Settings:
    """Validated settings from parsed TOML; every unknown key, wrong type or bad value is one line naming it."""
    if not isinstance(data, Mapping):
        raise ShardlineError(f"{where}: the configuration must be a table of sections")
    sections = {}
    for name, values in data.items():
        if name not in SECTIONS:
            raise ShardlineError(f"{where}: unknown section [{name}] (known: {', '.join(SECTIONS)})")
        if not isinstance(values, Mapping):
            raise ShardlineError(f"{where}: [{name}] must be a section of key = value lines")
        sections[name] = _section(SECTIONS[name], values, where, name)
    return Settings(**sections)


def load(path: str | Path | None) -> Settings:
    """The file's settings over the defaults (None or '' = the defaults)."""
    if path is None or str(path) == "":
        return Settings()
    p = Path(unescaped(os.path.expanduser(str(path))))
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ShardlineError(f"configuration file not found: {p}") from None
    except OSError as exc:
        raise ShardlineError(f"cannot read configuration file {p}: {exc.strerror}") from None
    try:
        data = json.loads(raw) if p.suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShardlineError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'TOML'}: {exc}") from None
    return from_dict(data, str(p))


def write_resolved(cfg: Settings, folder: Path) -> Path:
    """The resolved settings as a file the jobs read (content-addressed: same settings, same file)."""
    out = folder / f"config-{cfg.digest()}.toml"
    if not out.exists():
        write_text_atomic(out, cfg.to_toml())
    return out


# ---- single-field overrides: `shardline run` flags and the DAG's Params --------------------------------------

@dataclass(frozen=True)
class Override:
    name: str
    targets: tuple[str, ...]   # the fields it sets (``section.key``)
    type: type
    help: str
    choices: tuple[Any, ...] | None
    bounds: Mapping[str, float | None]


def overrides() -> dict[str, Override]:
    """Every override name, derived from the fields that declare it."""
    found: dict[str, list[tuple[str, Field, Any]]] = {}
    for dotted, f, default in field_table():
        if f.metadata.get("override"):
            found.setdefault(f.metadata["override"], []).append((dotted, f, default))
    out = {}
    for name, items in found.items():
        targets = tuple(d for d, _, _ in items)
        _, f, default = items[0]
        text = f.metadata["help"] if len(items) == 1 else f"sets {' and '.join(targets)}"
        out[name] = Override(name, targets, type(default), text, f.metadata["choices"],
                             {k: f.metadata[k] for k in ("ge", "le", "gt", "lt")})
    return out


OVERRIDES = overrides()
_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean"}


def dag_params() -> dict[str, dict[str, Any]]:
    """The DAG's override Params as keyword arguments of ``airflow.sdk.Param`` (default None: the file's value)."""
    out = {}
    for o in OVERRIDES.values():
        text = o.help if len(o.targets) > 1 else f"{o.targets[0]}: {o.help}"
        kw: dict[str, Any] = {"type": ["null", _JSON_TYPES[o.type]], "description": text}
        if o.choices:
            kw["enum"] = [None, *o.choices]
        for key, schema_key in (("ge", "minimum"), ("le", "maximum"), ("gt", "exclusiveMinimum"),
                                ("lt", "exclusiveMaximum")):
            if o.bounds[key] is not None:
                kw[schema_key] = o.bounds[key]
        out[o.name] = kw
    return out


def add_override_flags(parser: argparse.ArgumentParser) -> None:
    """``--image-size`` ... (``OVERRIDES``) on a command line."""
    for o in OVERRIDES.values():
        parser.add_argument(f"--{o.name.replace('_', '-')}", dest=o.name, type=o.type, default=None,
                            choices=o.choices, help=o.help if len(o.targets) > 1 else f"{o.help} ({o.targets[0]})")


def resolve(path: str | Path | None, values: Mapping[str, object], set_items: Sequence[str] = ()) -> Settings:
    """The file (None or '': the defaults), then ``section.key=value`` items, then the ``OVERRIDES`` found in
    ``values`` (None: not set)."""
    given = dict(parse_set(item) for item in set_items)
    return load(path).with_overrides(given).with_overrides(
        {target: values.get(o.name) for o in OVERRIDES.values() for target in o.targets})


# ---- a job's command line: --config FILE, --set section.key=value, and the fields' named flags --------------

_FLAG_DEST = "setting:"


def add_setting_flags(parser: argparse.ArgumentParser, section: str, only: Sequence[str] | None = None) -> None:
    """The named flags of a section's fields (``flag`` in their metadata), each defaulting to "not given"."""
    for key, f, default in _flat(getattr(Settings(), section)):
        name = f.metadata.get("flag")
        if not name or (only is not None and key not in only):
            continue
        flag = f"--{key.replace('_', '-')}" if name is True else name
        dest, text = f"{_FLAG_DEST}{section}.{key}", f"{f.metadata['help']} (setting {section}.{key}, default {default!r})"
        style = f.metadata["style"]
        if style == "negate":
            parser.add_argument(flag, dest=dest, action="store_const", const=False, default=None, help=f"turn off: {text}")
        elif style == "onoff":
            parser.add_argument(flag, dest=dest, type=_on_off, metavar="{on,off}", default=None, help=text)
        elif style == "bool":
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            parser.add_argument(flag, dest=dest, type=type(default) if not isinstance(default, tuple) else str,
                                choices=f.metadata["choices"], default=None, help=text,
                                metavar=None if f.metadata["choices"] else key.upper())


def _on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"must be on or off, got {value!r}")
    return value == "on"


def parse_set(item: str) -> tuple[str, object]:
    """``section.key=value``: the value as a TOML value (``64``, ``true``, ``[8, 16]``, ``"x"``), else a string."""
    key, sep, raw = item.partition("=")
    if not sep or "." not in key:
        raise ShardlineError(f"--set takes section.key=value, got {item!r}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args`` plus the settings: the ``--config`` file, then ``--set`` items, then the named flags
    (``add_setting_flags``), on ``args.settings``. A bad file or value is one line and exit 2."""
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="pipeline configuration (TOML, docs/CONFIG.md); --set and flags override its fields")
    parser.add_argument("--set", dest="set_items", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one setting (repeatable), e.g. --set images.resize=crop")
    args = parser.parse_args(argv)
    given: dict[str, object] = {}
    try:
        for item in args.set_items:
            key, value = parse_set(item)
            given[key] = value
        for dest, value in vars(args).items():
            if dest.startswith(_FLAG_DEST) and value is not None:
                given[dest[len(_FLAG_DEST):]] = value
        args.settings = load(args.config).with_overrides(given)
    except ShardlineError as exc:  # one line, no usage text: the flags parsed, the values did not hold
        print(f"error: {parser.prog.removesuffix('.py')}: {str(exc).removeprefix('overrides: ')}", file=sys.stderr)
        raise SystemExit(2) from None
    return args
