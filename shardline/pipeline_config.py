"""The pipeline configuration: one TOML file a user reads and changes in one place (docs/CONFIG.md).

``shardline run --config FILE`` and the DAG's ``config`` param take it; every job takes ``--config FILE``
and reads the fields it needs as its flag defaults, so a flag given on the command line still wins.
Defaults serve real photos and real text; the bundled digits demo has its own file
(``shardline/configs/demo.toml``). A wrong key or value is one error line naming it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from shardline.config import ShardlineError, unescaped
from shardline.storage import write_text_atomic

CONFIG_DIR = Path(__file__).with_name("configs")
DEMO_CONFIG = CONFIG_DIR / "demo.toml"


def _one_of(section: str, name: str, value: object, allowed: Sequence[object]) -> None:
    if value not in allowed:
        raise ValueError(f"{section}.{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _at_least(section: str, name: str, value: float, low: float) -> None:
    if value < low:
        raise ValueError(f"{section}.{name} must be >= {low}, got {value!r}")


IMAGE_HASHES = ("phash", "dcthash", "trimmed_dcthash", "coarse_dcthash", "small_dcthash", "dhash")  # each implemented in spark_jobs/imaging/phash.HASHES (a test keeps them equal)
# Hashes that only some pictures have (small_dcthash: pictures of phash.SMALL_SIDE px and less, phash._ONLY_FOR), so
# never the first of a list: the first is every picture's perceptual_hash
PARTIAL_HASHES = ("small_dcthash",)
MAX_IMAGE_SIDE = 4096  # the largest output side the image job writes (ImageCleanConfig)
# A pair found through a guarded hash is a candidate only if it is also within GUARD_REACH bits on its guard
# (listed beside it): coarse_dcthash sees crops well and unrelated pictures less well (spark_jobs/imaging/phash.py)
HASH_GUARDS = {"coarse_dcthash": "trimmed_dcthash"}
GUARD_REACH = 18  # bits of 64: unrelated pictures are about 32 apart (docs/IMAGE_CLEANING.md)


def hash_names(value: str) -> tuple[str, ...]:
    """The one parser of a comma list of perceptual hashes (config ``images.near_dup_hash``, the job's
    ``--hash``): the names in order, each known and given once, a guarded hash with its guard, a partial one
    (``PARTIAL_HASHES``) not first; no empty entries."""
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


@dataclass(frozen=True)
class ImagesConfig:
    size: int = 96                   # output side in px (square); photos need more than the digits' 28
    mode: str = "RGB"                # RGB or L (grayscale)
    resize: str = "pad"              # pad (keep aspect), crop (centre), stretch
    format: str = "PNG"              # re-encode as PNG or JPEG
    background: str = "white"        # colour under transparent pixels
    min_size: int = 8                # originals smaller than this (px) are quarantined as too_small
    near_dup_hash: str = "trimmed_dcthash,coarse_dcthash,small_dcthash"  # candidates' hashes (comma list of IMAGE_HASHES): the union (docs/IMAGE_CLEANING.md)
    near_dup_threshold: int = 10     # hash bits (of 64) apart for near-duplicate candidates; -1 turns matching off
    near_dup_max_difference: float = 0.33  # thumbnail block difference that confirms a candidate (inf: no check)

    def __post_init__(self) -> None:
        _at_least("images", "size", self.size, 8)
        if self.size > MAX_IMAGE_SIDE:  # the image job's own limit: refused here, before a night starts
            raise ValueError(f"images.size must be <= {MAX_IMAGE_SIDE}, got {self.size!r}")
        _one_of("images", "mode", self.mode, ("RGB", "L"))
        _one_of("images", "resize", self.resize, ("pad", "crop", "stretch"))
        _one_of("images", "format", self.format, ("PNG", "JPEG"))
        try:
            hash_names(self.near_dup_hash)
        except ValueError as exc:
            raise ValueError(f"images.near_dup_hash {exc}") from None
        _at_least("images", "min_size", self.min_size, 1)
        if not -1 <= self.near_dup_threshold <= 63:
            raise ValueError(f"images.near_dup_threshold must be -1 (off) or 0..63, got {self.near_dup_threshold}")
        if not self.near_dup_max_difference >= 0:
            raise ValueError(f"images.near_dup_max_difference must be >= 0, got {self.near_dup_max_difference}")


@dataclass(frozen=True)
class TextConfig:
    preset: str = "labeled"          # labeled (light, short labeled texts) or web (strict filters for crawls)
    normal_form: str = "NFC"         # NFC, or NFKC (folds compatibility characters)
    strip_markup: bool = True        # HTML/XML markup to text
    drop_boilerplate: bool = True    # drop cookie/navigation/copyright lines
    redact_pii: bool = True          # e-mails, phone numbers, IP addresses
    max_doc_bytes: int = 1_000_000   # larger records are quarantined as too_large
    near_dup: bool = True            # MinHash LSH near-duplicate matching
    ngram: int = 2                   # shingle size of the MinHash candidates (word bigrams)
    shingle: str = "word"            # word or char shingles
    threshold: float = 0.85          # shared words (in order, of the longer text) that make a near duplicate
    max_extra_words: int = 30        # ... or the shorter text contained at `threshold` in one this much longer
    near_dup_min_words: int = 30     # shorter texts are near duplicates only with the same words

    def __post_init__(self) -> None:
        _one_of("text", "preset", self.preset, ("labeled", "web"))
        _one_of("text", "normal_form", self.normal_form, ("NFC", "NFKC"))
        _one_of("text", "shingle", self.shingle, ("word", "char"))
        _at_least("text", "max_doc_bytes", self.max_doc_bytes, 1)
        _at_least("text", "ngram", self.ngram, 1)
        _at_least("text", "max_extra_words", self.max_extra_words, 0)
        _at_least("text", "near_dup_min_words", self.near_dup_min_words, 0)
        if not 0 < self.threshold <= 1:
            raise ValueError(f"text.threshold must be in (0, 1], got {self.threshold}")


@dataclass(frozen=True)
class GateConfig:
    """The validation gate's thresholds (``spark_jobs/validate_dataset.py``) and the rare-label policy
    that publishing applies first."""
    min_train_rows: int = 10
    min_val_rows: int = 1
    min_test_rows: int = 1
    min_train_rows_per_label: int = 5
    rare_labels: str = "exclude"     # exclude: rarer labels are left out of training and reported; fail: stop
    max_label_psi: float = 0.2       # PSI > 0.2 is the usual "significant shift" rule of thumb
    max_size_psi: float = 0.25
    keep_versions: int = 5

    def __post_init__(self) -> None:
        for name in ("min_train_rows", "min_val_rows", "min_test_rows", "min_train_rows_per_label", "keep_versions"):
            _at_least("gate", name, getattr(self, name), 1)
        _one_of("gate", "rare_labels", self.rare_labels, ("exclude", "fail"))
        if self.max_label_psi <= 0 or self.max_size_psi <= 0:
            raise ValueError(f"gate PSI thresholds must be > 0, got {self.max_label_psi}, {self.max_size_psi}")


@dataclass(frozen=True)
class TrainSection:
    """Training (``training/``, docs/TRAINING.md): models, the promotion gate, the opt-in search."""
    image_epochs: int = 30           # at most; early stopping on the validation loss ends most runs sooner
    text_epochs: int = 15
    batch_size: int = 64             # per worker
    learning_rate: float = 0.001     # peak of the cosine schedule
    workers: int = 1                 # local training workers (MultiWorkerMirroredStrategy)
    promotion_tolerance: float = 0.01
    baseline_policy: str = "refuse"  # refuse: a candidate that does not beat the baseline is not promoted; warn; off
    baseline_margin: float = 0.0     # accuracy the candidate must beat the baseline by
    serve_baseline: bool = True      # refuse: the baseline itself is registered and may become champion
    class_weight: str = "sqrt"       # long tails: none, sqrt (of balanced) or balanced loss weights
    min_steps_per_epoch: int = 50    # an epoch of a small dataset is at least this many steps (0: one pass)
    image_conv_filters: tuple[int, ...] = (32, 64, 128, 256)
    image_dense_units: int = 0
    image_augment: tuple[str, ...] = ("flip", "crop", "color")
    image_pretrained: str = ""       # MobileNetV2 no-top weights (.h5) to start from; empty: from scratch
    image_pretrained_alpha: float = 1.0
    image_classic_features: bool = True  # a wide branch on the baseline's pixels + HOG beside the network
    image_classic_extra: bool = True  # the wide branch also gets a coarser HOG and colour histograms
    image_classic_mix: str = "validation"  # validation: trained apart, mixed by a weight chosen on val; sum
    image_mirror_average: bool = True  # with flip augmentation: predict the mean over a picture and its mirror
    text_max_tokens: int = 50_000
    text_ngrams: int = 2
    text_char_ngrams: bool = True
    text_hidden_units: int = 256
    search_trials: int = 0           # > 0: random hyperparameter search of that many trials before training
    saved_model: bool = True         # also export a TF SavedModel (saved_model/, for TF Serving) beside model.keras

    def __post_init__(self) -> None:
        for name in ("image_conv_filters", "image_augment"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("image_epochs", "text_epochs", "batch_size", "workers", "text_max_tokens", "text_ngrams",
                     "text_hidden_units"):
            _at_least("train", name, getattr(self, name), 1)
        _at_least("train", "image_dense_units", self.image_dense_units, 0)
        _at_least("train", "search_trials", self.search_trials, 0)
        _at_least("train", "min_steps_per_epoch", self.min_steps_per_epoch, 0)
        if not self.image_conv_filters or any(not isinstance(f, int) or f < 1 for f in self.image_conv_filters):
            raise ValueError(f"train.image_conv_filters must be a list of positive integers, got "
                             f"{list(self.image_conv_filters)}")
        for a in self.image_augment:
            _one_of("train", "image_augment", a, ("flip", "crop", "color"))
        _one_of("train", "baseline_policy", self.baseline_policy, ("refuse", "warn", "off"))
        _one_of("train", "image_classic_mix", self.image_classic_mix, ("validation", "sum"))
        _one_of("train", "class_weight", self.class_weight, ("none", "sqrt", "balanced"))
        if not 0 <= self.promotion_tolerance <= 1:
            raise ValueError(f"train.promotion_tolerance must be in [0, 1], got {self.promotion_tolerance}")
        if not -1 < self.baseline_margin < 1:
            raise ValueError(f"train.baseline_margin must be in (-1, 1), got {self.baseline_margin}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"train.learning_rate must be in (0, 1), got {self.learning_rate}")


@dataclass(frozen=True)
class PipelineConfig:
    images: ImagesConfig = field(default_factory=ImagesConfig)
    text: TextConfig = field(default_factory=TextConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    train: TrainSection = field(default_factory=TrainSection)

    def to_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def to_toml(self) -> str:
        out = []
        for section, values in self.to_dict().items():
            out.append(f"[{section}]")
            out += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
            out.append("")
        return "\n".join(out)

    def with_overrides(self, overrides: dict[str, object]) -> "PipelineConfig":
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


SECTIONS = {f.name: f.default_factory for f in fields(PipelineConfig)}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def from_dict(data: dict, where: str) -> PipelineConfig:
    """A validated config from parsed TOML; every unknown key, wrong type or bad value is one line naming it."""
    if not isinstance(data, dict):
        raise ShardlineError(f"{where}: the configuration must be a table of sections")
    sections = {}
    for name, values in data.items():
        if name not in SECTIONS:
            raise ShardlineError(f"{where}: unknown section [{name}] (known: {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise ShardlineError(f"{where}: [{name}] must be a section of key = value lines")
        default = SECTIONS[name]()
        known = {f.name: f for f in fields(default)}
        for key, value in values.items():
            if key not in known:
                raise ShardlineError(f"{where}: unknown key {name}.{key} (known: {', '.join(known)})")
            want = type(getattr(default, key))
            ok = (isinstance(value, want) and not (want is int and isinstance(value, bool))) or \
                (want is float and isinstance(value, int) and not isinstance(value, bool)) or \
                (want is tuple and isinstance(value, list))
            if not ok:
                kind = "list" if want is tuple else want.__name__
                raise ShardlineError(f"{where}: {name}.{key} must be a {kind}, got {value!r}")
        try:
            sections[name] = replace(default, **values)
        except ValueError as exc:
            raise ShardlineError(f"{where}: {exc}") from None
    return PipelineConfig(**sections)


def load(path: str | Path | None) -> PipelineConfig:
    """The file's configuration over the defaults (None or '' = the defaults)."""
    if path is None or str(path) == "":
        return PipelineConfig()
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


# Single-field overrides by name: the flags of `shardline run`/`config show` (--image-size ...) and the DAG's
# params of the same names. name -> (the fields it sets, type, help).
OVERRIDES: dict[str, tuple[tuple[str, ...], type, str]] = {
    "image_size": (("images.size",), int, "output image side in px"),
    "image_mode": (("images.mode",), str, "RGB or L"),
    "image_resize": (("images.resize",), str, "pad, crop or stretch"),
    "image_near_dup_threshold": (("images.near_dup_threshold",), int,
                                 "pHash Hamming distance for near-duplicate images (-1 off)"),
    "text_preset": (("text.preset",), str, "text filter preset: labeled or web"),
    "rare_labels": (("gate.rare_labels",), str, "exclude or fail"),
    "epochs": (("train.image_epochs", "train.text_epochs"), int, "training epochs for both models"),
    "train_workers": (("train.workers",), int, "local training workers"),
    "promotion_tolerance": (("train.promotion_tolerance",), float,
                            "accuracy a candidate may lose to the champion and still be promoted"),
    "baseline_policy": (("train.baseline_policy",), str,
                        "refuse, warn or off: a candidate that does not beat the scikit-learn baseline"),
    "search_trials": (("train.search_trials",), int, "random hyperparameter search trials (0: off)"),
}


def resolve(path: str | Path | None, values: Mapping[str, object]) -> PipelineConfig:
    """The file (None or '': the defaults) with the ``OVERRIDES`` found in ``values`` (None: not set)."""
    return load(path).with_overrides({target: values.get(name) for name, (targets, _, _) in OVERRIDES.items()
                                      for target in targets})


def write_resolved(cfg: PipelineConfig, folder: Path) -> Path:
    """The resolved configuration as a file the jobs read (content-addressed: same config, same file)."""
    out = folder / f"config-{cfg.digest()}.toml"
    if not out.exists():
        write_text_atomic(out, cfg.to_toml())
    return out


def job_defaults(cfg: PipelineConfig, job: str) -> dict[str, object]:
    """The flag defaults (argparse dests) a job takes from the configuration."""
    im, tx, gate, tr = cfg.images, cfg.text, cfg.gate, cfg.train
    table: dict[str, dict[str, object]] = {
        "clean_images": {"target_size": str(im.size), "mode": im.mode, "resize": im.resize, "format": im.format,
                         "background": im.background, "min_size": im.min_size,
                         "near_dup_threshold": im.near_dup_threshold, "hash": im.near_dup_hash,
                         "near_dup_max_difference": im.near_dup_max_difference},
        "clean_text": {"preset": tx.preset, "normal_form": tx.normal_form, "keep_markup": not tx.strip_markup,
                       "keep_boilerplate": not tx.drop_boilerplate, "no_pii": not tx.redact_pii,
                       "max_doc_bytes": tx.max_doc_bytes, "near_dup": "on" if tx.near_dup else "off",
                       "ngram": tx.ngram, "shingle": tx.shingle, "threshold": tx.threshold,
                       "max_extra_words": tx.max_extra_words, "near_dup_min_words": tx.near_dup_min_words},
        "publish_dataset": {"min_train_rows_per_label": gate.min_train_rows_per_label,
                            "rare_labels": gate.rare_labels},
        "validate_dataset": asdict(gate),
        "train": {"batch_size": tr.batch_size, "tolerance": tr.promotion_tolerance,
                  "baseline_policy": tr.baseline_policy, "baseline_margin": tr.baseline_margin,
                  "serve_baseline": tr.serve_baseline,
                  "search_trials": tr.search_trials, "learning_rate": tr.learning_rate},
    }
    return table.get(job, {})


def parse_args(parser: argparse.ArgumentParser, job: str, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args`` with ``--config FILE`` supplying the job's defaults; explicit flags still win.
    The loaded configuration is on the result as ``pipeline_config``."""
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="pipeline configuration (TOML, docs/CONFIG.md); flags override its fields")
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    try:
        cfg = load(known.config)
    except ShardlineError as exc:  # one line, no usage text: the flags were fine, the file was not
        print(f"error: {parser.prog}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    parser.set_defaults(**job_defaults(cfg, job))
    args = parser.parse_args(argv)
    args.pipeline_config = cfg
    return args
