"""The authors' released Heidelberg Digits lpRNN, as an :class:`lprnn.ann.model.LpRNNClassifier`.

The checkpoint (``authors_hd_lprnn_3bit.pth``; from gauthierboeshertz/lpRNN_loihi, file
``shd/shdANN/weights/QlpRNN_lpff_size_128_2_512_ret_0.8_mel_80_hop_length_256_nWTH_0.pth``,
BSD 3-Clause) is a plain PyTorch state dict of float latent weights, saved from CUDA.
Its keys are ours, one to one, so the mapping is the identity:

=================================  ============  ====================================
authors' key                       shape         our module
=================================  ============  ====================================
``lpff.linear.weight / .bias``     (128, 80)     ``model.lpff.linear`` (lpLinear)
``rnn_layers.0.linear.weight/.bias``  (512, 128)  ``model.rnn_layers[0].linear`` (W, b)
``rnn_layers.0.linear_hh.weight``  (512, 512)    ``model.rnn_layers[0].linear_hh`` (U)
``rnn_layers.1.linear.weight/.bias``  (512, 512)  ``model.rnn_layers[1].linear``
``rnn_layers.1.linear_hh.weight``  (512, 512)    ``model.rnn_layers[1].linear_hh``
``out.linear.weight / .bias``      (20, 512)     ``model.out.linear`` (readout)
=================================  ============  ====================================

What the file does not say comes from the authors' training script and file name:
:data:`AUTHORS_HD_OPTIONS` (retention ratio 0.8, clamp ceiling 6, 3 fractional weight bits,
logits averaged over the second half). Sizes are read from the tensors. The deployed network
quantizes the latent weights to multiples of 1/8 in the forward pass, as ours does.

Inputs: 80 HD log-mel bands (:func:`lprnn.datasets.frontend.hd_logmel`), ~187 frames. Outputs: class
index = digit for German, digit + 10 for English (the authors' convention, which
:mod:`lprnn.datasets.hd` and ``digits`` use; official HD/SHD labels are swapped, see
:func:`lprnn.datasets.hd.swap_label_convention`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from lprnn import config
from lprnn.ann.model import LpRNNClassifier, from_state_dict

AUTHORS_REPOSITORY = "https://github.com/gauthierboeshertz/lpRNN_loihi"
AUTHORS_HD_OPTIONS = dict(retention_ratio=0.8, a_max=6.0, weight_frac_bits=3, weight_int_bits=1,
                          averaging="second_half")


def load_authors_checkpoint(path: str | Path | None = None) -> LpRNNClassifier:
    """The authors' HD lpRNN from ``path`` (default: the shared fixture), in eval mode on CPU.

    Raises FileNotFoundError (saying where to get it) when the file is absent, ValueError when
    it is not a readable state dict of an lpRNN classifier.
    """
    if path is None:
        path = config.authors_checkpoint()
        if path is None:
            raise FileNotFoundError(
                f"the authors' checkpoint {config.AUTHORS_CHECKPOINT_NAME} is not in "
                f"{config.fixtures_dir()}: get it from {AUTHORS_REPOSITORY} (file "
                "shd/shdANN/weights/QlpRNN_lpff_size_128_2_512_ret_0.8_mel_80_hop_length_256_"
                "nWTH_0.pth), save it under that name there or set LPRNN_FIXTURES_DIR")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"authors' checkpoint {path} not found (get it from "
                                f"{AUTHORS_REPOSITORY})")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise ValueError(f"{path} is not a readable PyTorch state dict "
                         f"({type(error).__name__}: {str(error)[:200]})") from None
    if not isinstance(state_dict, dict) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f"{path}: expected a state dict (a mapping of tensors), got "
                         f"{type(state_dict).__name__}")
    try:
        model = from_state_dict(state_dict, **AUTHORS_HD_OPTIONS)
    except RuntimeError as error:  # load_state_dict: missing, unexpected or misshapen keys
        raise ValueError(f"{path} does not fit the lpRNN classifier layout "
                         f"(see lprnn.ann.authors): {str(error)[:300]}") from None
    return model.eval()
