"""Training callbacks, one concern per class; each works with a plain ``Trainer`` and writes on rank zero."""

from engine.training.callbacks.confusion_matrix import ConfusionMatrixCallback
from engine.training.callbacks.dataset_statistics import DatasetStatisticsCallback
from engine.training.callbacks.events import EventsCallback
from engine.training.callbacks.graceful_stop import GracefulStopCallback
from engine.training.callbacks.grad_norms import GradNormCallback
from engine.training.callbacks.layer_health import LayerHealthCallback
from engine.training.callbacks.model_info import ModelInfoCallback
from engine.training.callbacks.onnx_export import OnnxExportCallback
from engine.training.callbacks.regression_samples import RegressionSamplesCallback
from engine.training.callbacks.sample_visualization import SampleVisualizationCallback
from engine.training.callbacks.sampler_distribution import SamplerDistributionCallback
from engine.training.callbacks.training_history import TrainingHistoryCallback

__all__ = [
    "ConfusionMatrixCallback",
    "DatasetStatisticsCallback",
    "EventsCallback",
    "GracefulStopCallback",
    "GradNormCallback",
    "LayerHealthCallback",
    "ModelInfoCallback",
    "OnnxExportCallback",
    "RegressionSamplesCallback",
    "SampleVisualizationCallback",
    "SamplerDistributionCallback",
    "TrainingHistoryCallback",
]
