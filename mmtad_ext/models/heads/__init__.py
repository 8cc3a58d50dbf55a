from .actionformer_head import ActionFormerHead
from .boundary_head import ETADBoundaryHead, boundary_targets
from .etad_cascade_head import ETADCascadeHead
from .video_cls_head import TADVideoClsHead

__all__ = ['ActionFormerHead', 'ETADBoundaryHead', 'boundary_targets', 'ETADCascadeHead', 'TADVideoClsHead']
