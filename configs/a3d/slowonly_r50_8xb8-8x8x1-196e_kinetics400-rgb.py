# Individually trained Slow-8x8 R50 baseline of A3D (A3D: Adaptive 3D Networks for Video Action
# Recognition, arXiv 2011.12384, Table 1 "Slow-8x8-R": 74.2 top-1), same data and schedule as
# the A3D-Slow configs (8 GPUs x 8 clips), plain mmaction2 Recognizer3D + ResNet3dSlowOnly.
_base_ = ['./a3d-0.016-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py']
model = dict(
    _delete_=True,
    type='Recognizer3D',
    backbone=dict(
        type='ResNet3dSlowOnly', depth=50, pretrained=None, lateral=False,
        conv1_kernel=(1, 7, 7), conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1)),
    cls_head=dict(type='I3DHead', in_channels=2048, num_classes=400, spatial_type='avg',
                  dropout_ratio=0.5, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))
