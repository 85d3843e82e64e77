"""File names inside a run folder (no heavy imports: the CLI's ``runs`` listing uses them)."""

CONFIG_FILE = "config.yaml"  # the effective config
RUN_FILE = "run.json"  # a run written by a user's own script (docs/run-format.md)
HPARAMS_FILE = "hparams.yaml"  # that script's LightningModule hyperparameters
EVENTS_FILE = "events.jsonl"
LOG_FILE = "train.log"  # loguru log
STDOUT_FILE = "stdout.log"  # the process's own stdout/stderr
PID_FILE = "run.pid"
# Written when a run process is spawned, removed by the process once it can report its own fate
# (events): a run folder holding it and no live process died before it could say why.
LAUNCH_FILE = "run.launching"
STOP_FILE = "STOP"  # its appearance asks the run to stop
LAST_CKPT = "last.ckpt"
BEST_CKPT_GLOB = "best-*.ckpt"  # ModelCheckpoint's best-epochNNN.ckpt
MODEL_ONNX = "model.onnx"  # the ONNX export at the end of fit
HISTORY_FILE = "history.json"  # one record per finished epoch (the curves' data)
CURVES = ("loss.png", "accuracy.png")  # redrawn after each epoch
METRICS_PNG = "metrics.png"  # instead of accuracy.png for a task other than classification
# Per validation epoch, in epoch_NNN/ (``epoch_dir``): the counts, their picture, sample images.
CONFUSION_JSON = "confusion_matrix.json"
CONFUSION_PNG = "confusion_matrix.png"
SAMPLES_PNG = "samples.png"  # a class grid or regression panels
CONFUSION_GLOB = f"epoch_*/{CONFUSION_PNG}"
CONFUSION_JSON_GLOB = f"epoch_*/{CONFUSION_JSON}"  # every validation epoch has one; PNGs may lag
SAMPLES_GLOB = f"epoch_*/{SAMPLES_PNG}"
