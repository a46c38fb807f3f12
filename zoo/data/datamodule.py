"""The one DataModule: a thin wrapper over a dataset reader (cf. torchgeo's datamodules)."""
from __future__ import annotations

import abc
import os
from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader, Dataset

from zoo.data.collate import pad_collate
from zoo.errors import ConfigError


def data_root(subdir: str = "") -> Path | None:
    """``$ZOO_DATA/<subdir>`` when the environment names a data root that holds it, else None."""
    root = os.environ.get("ZOO_DATA")
    if not root:
        return None
    path = Path(root).expanduser().resolve() / subdir
    return path if path.exists() else None


class Reader(abc.ABC):
    """Reads one on-disk dataset format. ``dataset(split, train)`` returns a map-style dataset of sample dicts."""

    splits: tuple[str, ...] = ("train", "val", "test")

    @abc.abstractmethod
    def dataset(self, split: str, train: bool = False) -> Dataset:
        """The samples of ``split``; ``train`` selects training-time augmentation."""

    def check_split(self, split: str) -> None:
        if split not in self.splits:
            raise ConfigError(f"{type(self).__name__} has splits {list(self.splits)}, not {split!r}")


class AffectDataModule(L.LightningDataModule):
    """Batches from a :class:`Reader` through :func:`~zoo.data.collate.pad_collate`.

    Args:
        reader: the dataset reader (any :class:`Reader` subclass; in YAML a ``class_path`` + ``init_args``).
        batch_size: samples per batch.
        num_workers: DataLoader worker processes.
        train_split / val_split / test_split / predict_split: split names passed to the reader.
    """

    def __init__(
        self,
        reader: Reader,
        batch_size: int = 32,
        num_workers: int = 0,
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "test",
        predict_split: str = "test",
        shuffle: bool = True,
    ):
        super().__init__()
        self.reader = reader
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.shuffle = shuffle
        self.split_names = {"fit": train_split, "validate": val_split, "test": test_split, "predict": predict_split}
        self._datasets: dict[str, Dataset] = {}

    def _get(self, split: str, train: bool) -> Dataset:
        key = f"{split}:{train}"
        if key not in self._datasets:
            self.reader.check_split(split)
            self._datasets[key] = self.reader.dataset(split, train=train)
        return self._datasets[key]

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit"):
            self._get(self.split_names["fit"], train=True)
            self._get(self.split_names["validate"], train=False)
        elif stage in self.split_names:
            self._get(self.split_names[stage], train=False)

    def _loader(self, split: str, train: bool) -> DataLoader:
        return DataLoader(
            self._get(split, train),
            batch_size=self.batch_size,
            shuffle=train and self.shuffle,
            num_workers=self.num_workers,
            collate_fn=pad_collate,
            persistent_workers=self.num_workers > 0,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.split_names["fit"], train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.split_names["validate"], train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.split_names["test"], train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.split_names["predict"], train=False)
