"""Use cases: each feature's whole pipeline, assembled once, for the CLI, the app and scripts.

A verb of ``layerscope.engine.cli`` parses its arguments, calls one function here and prints the answer; a
screen of ``tui`` calls the same function from a worker thread and draws the answer. Nothing in
this package prints or draws. The modules import torch lazily, inside the functions that need it,
so the app can import them before its first frame. See ``docs/architecture.md``.

- :mod:`layerscope.engine.usecases.quant`: inputs for a float-vs-quantized comparison, the comparison from
  a spec, twins of a model file, the activation histograms of one compared tensor.
- :mod:`layerscope.engine.usecases.activations`: a capture session (one capture plus exact re-runs).
- :mod:`layerscope.engine.usecases.runs`: run listing (incremental) and each run's checkpoint and artefacts.
- :mod:`layerscope.engine.usecases.tensor_json`: the one JSON schema of a model and its tensor statistics.
"""
