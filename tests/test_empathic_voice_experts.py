"""Expert heads: fused == one by one, joint training, and import of the released expert files."""
from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from zoo.errors import CheckpointError, ConfigError
from zoo.nn.experts import (
    ExpertBank,
    FullEmbeddingMLP,
    PooledEmbeddingMLP,
    expert_file_name,
    pool_states,
    read_expert_file,
)
from zoo.taxonomies import EMONET40

T, D, P, HIDDEN, DROPS = 50, 16, 8, [8, 4, 4], [0.0, 0.1, 0.1, 0.1]


@pytest.mark.parametrize("pooled", [False, True])
def test_fused_experts_equal_the_experts_run_one_by_one(pooled):
    torch.manual_seed(0)
    bank = ExpertBank(40, T, D, P, HIDDEN, DROPS, pooled=pooled).eval()
    states = torch.randn(5, T, D)
    with torch.no_grad():
        fused = bank(states)
        sequential = bank.one_by_one(states)
        modules = torch.stack([bank.expert(k)(states) for k in range(40)], dim=-1)
    assert fused.shape == (5, 40)
    torch.testing.assert_close(fused, sequential, atol=1e-5, rtol=0)
    torch.testing.assert_close(fused, modules, atol=1e-5, rtol=0)


def test_released_module_layout_and_head_sizes():
    small = FullEmbeddingMLP()  # Empathic-Insight-Voice-Small: 1500 x 768 -> 64 -> [64, 32, 16] -> 1
    assert small.proj.in_features == 1_152_000 and small.proj.out_features == 64
    assert [k for k in small.state_dict() if k.startswith("mlp.")] == [
        f"mlp.{i}.{t}" for i in (2, 5, 8, 11) for t in ("weight", "bias")]
    assert isinstance(small.mlp[0], nn.ReLU) and small.mlp[1].p == 0.0 and small.mlp[4].p == 0.1
    pooled = PooledEmbeddingMLP()
    assert pooled.proj.in_features == 3072


def test_pooled_statistics_are_mean_min_max_std_over_time():
    x = torch.randn(2, 7, 3)
    pooled = pool_states(x)
    torch.testing.assert_close(pooled, torch.cat([x.mean(1), x.min(1).values, x.max(1).values, x.std(1)], -1))


def test_one_optimiser_step_trains_every_expert_together():
    torch.manual_seed(1)
    bank = ExpertBank(6, T, D, P, HIDDEN, [0.0, 0.0, 0.0, 0.0])
    before = [p.detach().clone() for p in bank.parameters()]
    optimiser = torch.optim.SGD(bank.parameters(), lr=0.1)
    loss = (bank(torch.randn(8, T, D)) - torch.rand(8, 6)).pow(2).mean()
    loss.backward()
    assert all(p.grad is not None for p in bank.parameters())
    assert (bank.proj_weight.grad.flatten(1).abs().sum(1) > 0).all()  # each expert's projection gets a gradient
    optimiser.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, bank.parameters(), strict=True))


def test_wrong_state_shape_is_a_config_error():
    bank = ExpertBank(2, T, D, P, HIDDEN, DROPS)
    with pytest.raises(ConfigError, match=r"\[B, 50, 16\]"):
        bank(torch.randn(1, T + 1, D))


def test_file_names_follow_the_released_form():
    assert expert_file_name("Pleasure/Ecstasy") == "model_Pleasure_Ecstasy_best.pth"
    assert expert_file_name("Jealousy & Envy") == "model_Jealousy_&_Envy_best.pth"
    assert expert_file_name("Intoxication/Altered States of Consciousness") == \
        "model_Intoxication_Altered_States_of_Consciousness_best.pth"
    assert len({expert_file_name(label) for label in EMONET40.labels}) == 40


def _released(seed: int) -> FullEmbeddingMLP:
    torch.manual_seed(seed)
    return FullEmbeddingMLP(T, D, P, HIDDEN, DROPS).eval()


@pytest.mark.parametrize("layout", ["released", "compiled", "shifted"])
def test_reading_an_expert_file_in_the_released_layouts(tmp_path, layout):
    expert = _released(3)
    state = expert.state_dict()
    if layout == "compiled":
        state = {f"_orig_mod.{k}": v for k, v in state.items()}
    if layout == "shifted":  # mlp.{1,4,7,10}: an MLP without the leading activation module
        state = {(f"mlp.{int(k.split('.')[1]) - 1}.{k.split('.')[2]}" if k.startswith("mlp.") else k): v
                 for k, v in state.items()}
    path = tmp_path / "model_Anger_best.pth"
    torch.save(state, path)
    bank = ExpertBank(3, T, D, P, HIDDEN, DROPS).eval()
    bank.load_expert(1, read_expert_file(path, bank))
    x = torch.randn(4, T, D)
    with torch.no_grad():
        torch.testing.assert_close(bank(x)[:, 1], expert(x), atol=1e-5, rtol=0)


def test_a_misshaped_or_incomplete_expert_file_names_the_file_and_tensor(tmp_path):
    bank = ExpertBank(1, T, D, P, HIDDEN, DROPS)
    wide = tmp_path / "model_Fear_best.pth"
    torch.save(FullEmbeddingMLP(T, D, P * 2, HIDDEN, DROPS).state_dict(), wide)
    with pytest.raises(CheckpointError, match=r"model_Fear_best\.pth.*proj has weight \(16, 800\)"):
        read_expert_file(wide, bank)
    short = tmp_path / "model_Pain_best.pth"
    torch.save({k: v for k, v in _released(0).state_dict().items() if k != "mlp.11.bias"}, short)
    with pytest.raises(CheckpointError, match=r"model_Pain_best\.pth.*missing \['mlp\.11\.bias'\]"):
        read_expert_file(short, bank)
    deep = tmp_path / "model_Awe_best.pth"
    torch.save(FullEmbeddingMLP(T, D, P, [8, 8], [0.0, 0.1, 0.1]).state_dict(), deep)
    with pytest.raises(CheckpointError, match="3 linear layers"):
        read_expert_file(deep, bank)


def test_an_expert_file_with_arbitrary_objects_is_refused(tmp_path):
    path = tmp_path / "model_Anger_best.pth"
    with open(path, "wb") as handle:
        pickle.dump({"proj.weight": torch.zeros(1), "payload": print}, handle)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        read_expert_file(path, ExpertBank(1, T, D, P, HIDDEN, DROPS))
