"""The model registry: names -> GenerativeModel subclasses."""
from __future__ import annotations

from typing import Any

_REGISTRY: dict[str, type] = {}


def register_model(name: str, cls: type) -> type:
    """Register a GenerativeModel subclass under ``name`` (usable by create_model and from_state)."""
    from synthohive_spark.models.base import GenerativeModel

    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, GenerativeModel)):
        raise TypeError(f"register_model({name!r}, ...) needs a GenerativeModel subclass, got {cls!r}")
    if getattr(cls, "name", None) != name:
        cls.name = name  # the name written into saved state, so that loading finds the class again
    _REGISTRY[name] = cls
    return cls


def available_models() -> list[str]:
    """Names create_model accepts."""
    return sorted(_REGISTRY)


def get_model_class(name: str) -> type:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {available_models()}") from None


def create_model(name: str = "ctgan", **hyperparams: Any) -> Any:
    """A new, unfitted model: ``create_model("ctgan", epochs=10, batch_size=500)``."""
    return get_model_class(name)(**hyperparams)
