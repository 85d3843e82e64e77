"""Input sources → a batch ready for the model, with a description of exactly what was fed.

Spec strings (the CLI's ``--input``, the app's input selector):

* ``random`` / ``random:3x32x32`` — seeded standard normal values (already in normalised space).
* ``cifar10:17``, ``cifar10:0-63``, ``cifar10:1,5,9`` — CIFAR-10 *test* images by index, from the
  python folder (``--data-dir``, ``$LAYERSCOPE_CIFAR10`` or ./data).
* ``digits:3``, ``digits:0-99`` — the embedded digits images the demo models were trained on.
* ``path.png`` / ``.jpg`` — an image, converted to the model's channels and resized to its size.
* ``path.npy`` — an array used as given (a batch axis is added when it lacks one); ``x.npy[0:8]``
  takes samples 0-7.
* ``path.npz`` — the archive's one array, ``train.npz:diffraction`` the array named so,
  ``train.npz:diffraction[0:8]`` its samples 0-7. An archive of several arrays whose names are the
  model's inputs feeds each input its array.
* ``ids:101,2023,102`` — one sequence of token ids (int64, ``1×3``); ``ids:1,2,3/4,5,6`` two.
* ``name=SPEC; name=SPEC`` — several named inputs, each any of the above (the CLI's repeated
  ``--input name=SPEC``), given to a torch forward as keywords or to an ONNX graph by input name.

Integer arrays stay integers (token ids), except an image-shaped one for an image model. For an
ONNX model, ``random`` fills every input, a dynamic dimension (sequence length) with
``DEFAULT_DYNAMIC_DIM`` and integer inputs with ones; the description says so.

Images are scaled to [0, 1] and normalised per channel: by ``normalize`` when given (a name or
``MEAN/STD`` per channel, ``parse_normalization``), else by what the model's training run recorded
(``recorded_preprocessing``: the ONNX file's ``layerscope.preprocessing`` metadata or a
``model_info.json`` beside the model), else CIFAR-10 mean/std for CIFAR-10 and any 3×32×32 model,
digits mean/std for digits. What was done is in the description.

One module per kind of source: ``synthetic`` (random, token ids), ``images`` (datasets, image
files), ``arrays`` (.npy/.npz); ``normalization``, ``model_info`` (what the model says of its
inputs), ``batch`` (``InputBatch``, index syntax) and ``load`` (spec → source) serve them.
"""

from __future__ import annotations

from layerscope.engine.inputs.batch import InputBatch, parse_indices
from layerscope.engine.inputs.images import MAX_IMAGE_PIXELS
from layerscope.engine.inputs.load import SOURCES, load_input
from layerscope.engine.inputs.model_info import (
    DEFAULT_DYNAMIC_DIM,
    model_input_names,
    model_input_shape,
    onnx_input_infos,
)
from layerscope.engine.inputs.normalization import (
    NORMALIZATIONS,
    Norm,
    parse_normalization,
    recorded_preprocessing,
)

__all__ = [
    "DEFAULT_DYNAMIC_DIM",
    "MAX_IMAGE_PIXELS",
    "NORMALIZATIONS",
    "SOURCES",
    "InputBatch",
    "Norm",
    "load_input",
    "model_input_names",
    "model_input_shape",
    "onnx_input_infos",
    "parse_indices",
    "parse_normalization",
    "recorded_preprocessing",
]
