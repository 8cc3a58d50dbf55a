from .annotation import (AnnotationError, check_video_annotation, load_annotation_json,
                         load_annotations)
from .tad_dataset import TADDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'AnnotationError', 'TADDataset', 'check_video_annotation', 'load_annotation_json',
    'load_annotations'
]
