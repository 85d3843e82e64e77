"""File names inside a run folder (no heavy imports: the CLI's ``runs`` listing uses them)."""

CONFIG_FILE = "config.yaml"  # the effective config
EVENTS_FILE = "events.jsonl"
LOG_FILE = "train.log"  # loguru log
STDOUT_FILE = "stdout.log"  # the process's own stdout/stderr
PID_FILE = "run.pid"
STOP_FILE = "STOP"  # its appearance asks the run to stop
LAST_CKPT = "last.ckpt"
BEST_CKPT_GLOB = "best-*.ckpt"  # ModelCheckpoint's best-epochNNN.ckpt
MODEL_ONNX = "model.onnx"  # the ONNX export at the end of fit
CURVES = ("loss.png", "accuracy.png")  # redrawn after each epoch
CONFUSION_GLOB = "epoch_*/confusion_matrix.png"  # one per validation epoch
