from .segment_ops import (decode_offsets, encode_offsets, segment_diou, segment_giou,
                          segment_iou)

__all__ = ['segment_iou', 'segment_diou', 'segment_giou', 'encode_offsets', 'decode_offsets']
