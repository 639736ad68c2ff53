"""The model registry: names -> GenerativeModel subclasses.

Built-in models register themselves when their class is defined (``GenerativeModel.__init_subclass__``
reads the class's own ``name``); :func:`register_model` adds a class under another name.
"""
from __future__ import annotations

from typing import Any

from synthohive_spark.models.base import _REGISTRY, GenerativeModel, get_model_class

__all__ = ["available_models", "create_model", "get_model_class", "register_model"]


def register_model(name: str, cls: type) -> type:
    """Register a GenerativeModel subclass under ``name`` (usable by create_model and from_state)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, GenerativeModel)):
        raise TypeError(f"register_model({name!r}, ...) needs a GenerativeModel subclass, got {cls!r}")
    if cls.__dict__.get("name") != name:
        cls.name = name  # the name written into saved state, so that loading finds the class again
    _REGISTRY[name] = cls
    return cls


def available_models() -> list[str]:
    """Names create_model accepts."""
    return sorted(_REGISTRY)


def create_model(name: str = "ctgan", **hyperparams: Any) -> Any:
    """A new, unfitted model: ``create_model("ctgan", epochs=10, batch_size=500)``."""
    return get_model_class(name)(**hyperparams)
