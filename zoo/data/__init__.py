"""Media decoding, transforms, collate and the shared DataModule."""
from zoo.data.collate import pad_collate
from zoo.data.datamodule import AffectDataModule, Reader, data_root

__all__ = ["AffectDataModule", "Reader", "data_root", "pad_collate"]
