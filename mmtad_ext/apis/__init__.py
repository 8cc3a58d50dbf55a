"""High-level inference API: build a detector and detect the actions of a video."""
from .inference import check_detection_config, inference_detector, init_detector

__all__ = ['check_detection_config', 'init_detector', 'inference_detector']
