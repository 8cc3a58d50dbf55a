"""High-level inference API: build a detector and detect the actions of a video."""
from .inference import inference_detector, init_detector

__all__ = ['init_detector', 'inference_detector']
