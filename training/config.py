"""Nested, typed training configuration, validated at construction with errors naming the bad value."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

AUGMENTATIONS = ("flip", "crop", "color")
CLASSIC_MIXES = ("validation", "sum")
CLASS_WEIGHTS = ("none", "sqrt", "balanced")


@dataclass(frozen=True)
class ImageModelConfig:
    conv_filters: tuple[int, ...] = (32, 64, 128, 256)  # one residual stage each; all but the first halve the size
    dense_units: int = 0                           # hidden layer after pooling (0: none)
    dropout: float = 0.2
    augment: tuple[str, ...] = AUGMENTATIONS       # label-preserving random transforms while training
    pretrained: str = ""                           # MobileNetV2 no-top weights file (.h5) to start from
    pretrained_alpha: float = 1.0                  # the width multiplier that file was saved with
    classic_features: bool = True                  # a wide branch on the baseline's pixels + HOG
    classic_extra: bool = True                     # + HOG at 64 px in 8 px cells, colour histograms (whole, quarters)
    classic_l2: float = 0.01                       # its L2 penalty per weight
    classic_mix: str = "validation"                # validation: own losses, probabilities mixed by a weight
                                                   # chosen on the validation split; sum: logits added
    mirror_average: bool = True                    # with "flip" in augment: serve the mean of the probabilities
                                                   # of a picture and of its mirror image

    def __post_init__(self) -> None:
        if not self.conv_filters or any(f < 1 for f in self.conv_filters):
            raise ValueError(f"image.conv_filters must be positive, got {self.conv_filters}")
        if self.dense_units < 0:
            raise ValueError(f"image.dense_units must be >= 0, got {self.dense_units}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"image.dropout must be in [0, 1), got {self.dropout}")
        if self.classic_mix not in CLASSIC_MIXES:
            raise ValueError(f"image.classic_mix must be one of {list(CLASSIC_MIXES)}, got {self.classic_mix!r}")
        unknown = sorted(set(self.augment) - set(AUGMENTATIONS))
        if unknown:
            raise ValueError(f"image.augment: unknown {unknown}, choose from {list(AUGMENTATIONS)}")

    @property
    def mirrors(self) -> bool:
        """Whether the served model predicts the mean over a picture and its mirror image: asked for, and the
        network was trained with flips."""
        return self.mirror_average and "flip" in self.augment


@dataclass(frozen=True)
class TextModelConfig:
    max_tokens: int = 50_000     # per vectorizer (word n-grams, character n-grams)
    ngrams: int = 2              # word 1..ngrams-grams
    char_ngrams: bool = True     # also character 3-5-grams
    hidden_units: int = 256
    dropout: float = 0.4

    def __post_init__(self) -> None:
        for name in ("max_tokens", "ngrams", "hidden_units"):
            if getattr(self, name) < 1:
                raise ValueError(f"text.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"text.dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TrainConfig:
    kind: str
    epochs: int = 5
    batch_size: int = 64            # per worker; the global batch is batch_size x workers
    learning_rate: float = 1e-3
    seed: int = 42
    shuffle_buffer: int = 1024
    class_weight: str = "sqrt"      # long tails: none, sqrt (of balanced) or balanced loss weights per label
    min_steps_per_epoch: int = 50   # small datasets: an "epoch" is at least this many steps (0: one pass)
    image: ImageModelConfig = field(default_factory=ImageModelConfig)
    text: TextModelConfig = field(default_factory=TextModelConfig)

    def __post_init__(self) -> None:
        if self.kind not in ("image", "text"):
            raise ValueError(f"kind must be 'image' or 'text', got {self.kind!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if self.min_steps_per_epoch < 0:
            raise ValueError(f"min_steps_per_epoch must be >= 0, got {self.min_steps_per_epoch}")
        if self.class_weight not in CLASS_WEIGHTS:
            raise ValueError(f"class_weight must be one of {list(CLASS_WEIGHTS)}, got {self.class_weight!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def for_kind(cls, kind: str, **overrides) -> "TrainConfig":
        """Defaults per kind: the TF-IDF MLP converges in fewer epochs than the convolutional network."""
        defaults = {"image": {"epochs": 30}, "text": {"epochs": 15}}.get(kind, {})
        return cls(kind=kind, **{**defaults, **overrides})
