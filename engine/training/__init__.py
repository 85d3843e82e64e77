"""Lightning training: run configs, the classifier module, data, callbacks and run management.

- ``config``: the YAML recipe as dataclasses (``load_config``, ``--set`` overrides)
- ``optim``: optimizer and scheduler factory
- ``module`` / ``data``: ``ClassifierModule``, ``ImageDataModule``, ``TrackingWeightedRandomSampler``
- ``callbacks/``: one observability concern per callback, each usable with a plain Trainer
- ``build``: config → module, data, callbacks and Trainer options
- ``process``: the detached run process (``python -m layerscope.engine.training.process RUN_DIR``)
- ``runs``: launch, resume, list, stop and compare runs; ``events``: write, read and tail events

Nothing here imports torch at package import time; ``runs`` and ``events`` stay light for the CLI.
"""
