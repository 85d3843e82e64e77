"""Training callbacks, one concern per class; each works with a plain ``Trainer`` and writes on rank zero."""

from layerscope.engine.training.callbacks.confusion_matrix import ConfusionMatrixCallback
from layerscope.engine.training.callbacks.dataset_statistics import DatasetStatisticsCallback
from layerscope.engine.training.callbacks.events import EventsCallback
from layerscope.engine.training.callbacks.graceful_stop import GracefulStopCallback
from layerscope.engine.training.callbacks.grad_norms import GradNormCallback
from layerscope.engine.training.callbacks.layer_health import LayerHealthCallback
from layerscope.engine.training.callbacks.model_info import ModelInfoCallback
from layerscope.engine.training.callbacks.onnx_export import OnnxExportCallback
from layerscope.engine.training.callbacks.regression_samples import RegressionSamplesCallback
from layerscope.engine.training.callbacks.sample_visualization import SampleVisualizationCallback
from layerscope.engine.training.callbacks.sampler_distribution import SamplerDistributionCallback
from layerscope.engine.training.callbacks.training_history import TrainingHistoryCallback

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
