"""Export: .npz + JSON and netx-layout HDF5 load back into the same network (round trip)."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
import torch

from lprnn import snn
from lprnn.snn import export
from lprnn.snn.network import LoihiLayer, LoihiNetwork, LoihiReadout, SigmaDeltaFixedParams

h5py = pytest.importorskip("h5py")


def _network(source: str = "spike_counts", drive_max: int | None = None,
             payload_max: int = 1) -> LoihiNetwork:
    rng = np.random.default_rng(0)
    neuron = SigmaDeltaFixedParams(decay_in=409, decay_ip=91, decay_v=4096, decay_fb=409,
                                   feedback_weight=-1200, threshold=0, drive_max=drive_max,
                                   payload_max=payload_max)
    layers = [
        LoihiLayer("lpff", rng.integers(-128, 128, (5, 3)).astype(np.int32) * 2, 2,
                   rng.integers(-50, 50, 5).astype(np.int32), 3, neuron, 1024.0),
        LoihiLayer("rnn_layers.0", rng.integers(-128, 128, (4, 5)).astype(np.int32) * 2, -1,
                   rng.integers(-50, 50, 4).astype(np.int32), 0, replace(neuron, decay_in=300),
                   512.5, recurrent_weights=rng.integers(-128, 128, (4, 4)).astype(np.int32) * 2,
                   recurrent_weight_exp=1, recurrent_delay=2),
    ]
    readout = LoihiReadout(rng.integers(-4, 5, (2, 4)).astype(np.int32), np.array([3, -2]),
                           source=source)
    return LoihiNetwork(layers, readout, steps_per_ann_step=4, input_scale=64.0,
                        averaging="all", metadata={"alpha": 0.8, "sizes": [3, 5, 4]})


def _assert_same(a: LoihiNetwork, b: LoihiNetwork) -> None:
    """Every field of the network, its layers and its readout (new fields are covered too)."""
    def same(x, y) -> bool:
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            return x is not None and y is not None and np.array_equal(x, y)
        return x == y

    for obj_a, obj_b in [(a, b), (a.readout, b.readout), *zip(a.layers, b.layers, strict=True)]:
        for field in fields(obj_a):
            if field.name not in ("layers", "readout"):
                assert same(getattr(obj_a, field.name), getattr(obj_b, field.name)), field.name


@pytest.mark.parametrize("source, drive_max, payload_max", [("spike_counts", None, 1),
                                                            ("decoded", 5000, 1),
                                                            ("spike_counts", 5000, 7)])
def test_round_trip_all_formats(tmp_path, source, drive_max, payload_max):
    network = _network(source, drive_max, payload_max)
    paths = export.export_network(network, tmp_path / "net")
    assert sorted(paths) == ["h5", "json", "npz"] and all(p.is_file() for p in paths.values())
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    expected = snn.simulate(network, x).logits
    for path in (paths["h5"], paths["npz"]):
        loaded = export.load_network(path)
        _assert_same(network, loaded)
        assert torch.equal(snn.simulate(loaded, x).logits, expected)


def test_netx_layout_is_readable_by_netx(tmp_path):
    pytest.importorskip("lprnn.snn.lava.procs")   # imports Lava safely (fork start method)
    netx_utils = pytest.importorskip("lava.lib.dl.netx.utils")
    network = _network()
    path = export.save_netx(network, tmp_path / "net.h5")
    layers = netx_utils.NetDict(str(path))["layer"]
    assert [layers[i]["type"] for i in range(len(layers))] == ["input", "dense", "dense_rec",
                                                                 "dense"]
    np.testing.assert_array_equal(layers[0]["shape"], [3])
    np.testing.assert_array_equal(layers[1]["weight"], network.layers[0].weights)
    np.testing.assert_array_equal(layers[2]["weight_rec"], network.layers[1].recurrent_weights)
    np.testing.assert_array_equal(layers[2]["bias"], network.layers[1].bias)
    assert layers[1]["neuron"]["type"] == export.NEURON_TYPE
    with h5py.File(path) as f:
        assert f.attrs["netx_limitations"] == "\n".join(export.NETX_LIMITATIONS)


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="netx file"):
        export.load_netx(tmp_path / "missing.h5")
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        export.load_netx(tmp_path / "bad.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(ValueError, match="format 'something-else', expected 'lprnn-netx-v1'"):
        export.load_netx(tmp_path / "other.h5")
    with pytest.raises(FileNotFoundError):
        export.load_network(tmp_path / "missing.npz")
