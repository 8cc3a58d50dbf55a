from .segment_ops import decode_offsets, encode_offsets, segment_iou

__all__ = ['segment_iou', 'encode_offsets', 'decode_offsets']
