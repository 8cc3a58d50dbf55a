"""Evaluation: pure functions (``functional``) and registered mmengine metrics (``metrics``)."""
from . import functional, metrics  # noqa: F401
from .functional import (batched_nms_1d, eval_detection, merge_video_detections, nms_1d,
                         soft_nms_1d)
from .metrics import TADMetric

__all__ = [
    'functional', 'metrics', 'eval_detection', 'nms_1d', 'batched_nms_1d', 'soft_nms_1d',
    'merge_video_detections', 'TADMetric'
]
