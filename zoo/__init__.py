"""Affect Zoo: multimodal affective-computing models on PyTorch Lightning.

    import zoo
    zoo.list_models()                       # registered architectures
    zoo.list_models(pretrained=True)        # indexed checkpoints
    model = zoo.create("emoset_attribute", preset="tiny")
    model = zoo.load("emoset_attribute-tiny-sample")   # verified, eval mode
    model.predict_files(["photo.jpg"])
"""
from zoo.errors import CheckpointError, ConfigError, DataError, LabelError, ZooError
from zoo.hub import load, save_pretrained
from zoo.registry import create, list_models

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "LabelError",
    "ZooError",
    "__version__",
    "create",
    "list_models",
    "load",
    "save_pretrained",
]
