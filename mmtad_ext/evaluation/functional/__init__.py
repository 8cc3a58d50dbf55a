"""Pure functions of the evaluation: detection mAP, 1D NMS / Soft-NMS, window merging, A3D
budget selection."""
from .budget import pareto_front, select_row
from .eval_detection import eval_detection, tiou_float32
from .nms import batched_nms_1d, nms_1d, segment_voting, soft_nms_1d
from .post_processing import apply_nms_cfg, merge_video_detections

__all__ = [
    'eval_detection', 'tiou_float32', 'nms_1d', 'batched_nms_1d',
    'soft_nms_1d', 'segment_voting', 'apply_nms_cfg', 'merge_video_detections', 'pareto_front', 'select_row'
]
