# Individually trained Slow-8x8 R50 baseline (paper 002, "Slow-8x8-R": 74.2 top-1), same data and
# schedule as the A3D-Slow configs, plain mmaction2 Recognizer3D + ResNet3dSlowOnly.
_base_ = ['./a3d-0.016-1_slow-r50_8x8x1_196e_kinetics400-rgb.py']
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
