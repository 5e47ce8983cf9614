"""Nested, typed training configuration, validated at construction with errors naming the bad value."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ImageModelConfig:
    conv_filters: tuple[int, ...] = (16, 32)
    dense_units: int = 64
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if not self.conv_filters or any(f < 1 for f in self.conv_filters):
            raise ValueError(f"image.conv_filters must be positive, got {self.conv_filters}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"image.dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TextModelConfig:
    max_tokens: int = 20_000
    sequence_length: int = 64
    embedding_dim: int = 32

    def __post_init__(self) -> None:
        for name in ("max_tokens", "sequence_length", "embedding_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"text.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class TrainConfig:
    kind: str
    epochs: int = 5
    batch_size: int = 64            # per worker; the global batch is batch_size x workers
    learning_rate: float = 1e-3
    seed: int = 42
    shuffle_buffer: int = 1024
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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def for_kind(cls, kind: str, **overrides) -> "TrainConfig":
        """Defaults tuned per kind: the bag-of-embeddings text model needs a larger step size."""
        defaults = {"image": {}, "text": {"epochs": 10, "learning_rate": 1e-2}}.get(kind, {})
        return cls(kind=kind, **{**defaults, **overrides})
