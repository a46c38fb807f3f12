"""Per-modality transforms. Image transforms follow the datasets' published recipes."""
from __future__ import annotations

from collections.abc import Sequence

from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_transform(train: bool, image_size: int = 224, mean: Sequence[float] = IMAGENET_MEAN,
                    std: Sequence[float] = IMAGENET_STD):
    """EmoSet's recipe: train RandomResizedCrop + horizontal flip; eval Resize + CenterCrop; then normalise."""
    if train:
        geometry = [T.RandomResizedCrop(image_size), T.RandomHorizontalFlip()]
    else:
        geometry = [T.Resize(image_size), T.CenterCrop(image_size)]
    return T.Compose([*geometry, T.ToTensor(), T.Normalize(list(mean), list(std))])
