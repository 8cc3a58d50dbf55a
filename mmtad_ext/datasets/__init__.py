from .tad_dataset import TADDataset, load_annotation_json
from .transforms import *  # noqa: F401,F403

__all__ = ['TADDataset', 'load_annotation_json']
