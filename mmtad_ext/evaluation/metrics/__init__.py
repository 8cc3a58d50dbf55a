"""mmengine metrics of mmtad-ext."""
from .tad_metric import TADMetric

__all__ = ['TADMetric']
