"""The authors' checkpoint loader: on a state dict we write, and on the real file when present."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lprnn import config
from lprnn.ann.authors import AUTHORS_HD_OPTIONS, load_authors_checkpoint
from lprnn.ann.model import LpRNNClassifier, ModelConfig

SMALL = ModelConfig(n_inputs=6, ff_size=5, rnn_sizes=(4, 3), n_classes=20, **AUTHORS_HD_OPTIONS)


def test_loads_a_state_dict_in_the_authors_layout(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = LpRNNClassifier(SMALL)
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("weight_mask")}
    assert sorted(state) == sorted([
        "lpff.linear.weight", "lpff.linear.bias", "rnn_layers.0.linear.weight",
        "rnn_layers.0.linear.bias", "rnn_layers.0.linear_hh.weight", "rnn_layers.1.linear.weight",
        "rnn_layers.1.linear.bias", "rnn_layers.1.linear_hh.weight", "out.linear.weight",
        "out.linear.bias"])
    torch.save(state, tmp_path / "weights.pth")
    model = load_authors_checkpoint(tmp_path / "weights.pth")
    assert model.config == SMALL and not model.training
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key], value)
    x = torch.randn(2, 7, 6)
    assert torch.equal(model(x), source.eval()(x))


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="gauthierboeshertz/lpRNN_loihi"):
        load_authors_checkpoint(tmp_path / "absent.pth")
    monkeypatch.setenv("LPRNN_FIXTURES_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="authors_hd_lprnn_3bit.pth is not in"):
        load_authors_checkpoint()


def test_corrupt_and_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "garbage.pth").write_bytes(b"\x00not a torch file")
    with pytest.raises(ValueError, match="not a readable PyTorch state dict"):
        load_authors_checkpoint(tmp_path / "garbage.pth")
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="expected a state dict"):
        load_authors_checkpoint(tmp_path / "list.pth")
    torch.save({"conv.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not an lpRNN classifier"):
        load_authors_checkpoint(tmp_path / "other.pth")
    state = LpRNNClassifier(SMALL).state_dict()
    state["rnn_layers.0.linear.weight"] = torch.zeros(4, 9)
    torch.save(state, tmp_path / "misshapen.pth")
    with pytest.raises(ValueError, match="does not fit the lpRNN classifier layout"):
        load_authors_checkpoint(tmp_path / "misshapen.pth")


def test_the_released_checkpoint() -> None:
    if config.authors_checkpoint() is None:
        pytest.skip(f"{config.AUTHORS_CHECKPOINT_NAME} not in {config.fixtures_dir()}")
    model = load_authors_checkpoint()
    assert model.config == ModelConfig(n_inputs=80, ff_size=128, rnn_sizes=(512, 512),
                                       n_classes=20, **AUTHORS_HD_OPTIONS)
    deployed = model.effective_parameters()
    for name, tensor in deployed.items():
        assert torch.equal(tensor * 8, (tensor * 8).round()), name  # multiples of 1/8
    # most latent weights are below 1/16 and are pruned to zero by the 3-bit quantizer
    assert float((deployed["rnn_layers.0.linear_hh.weight"] == 0).float().mean()) > 0.5
    assert model(torch.randn(2, 187, 80)).shape == (2, 20)
