# Individually trained baseline of the synthetic A3D task: the same tiny Slow ResNet and
# schedule, plain mmaction2 Recognizer3D + ResNet3dSlowOnly as the full network.
# tools/analysis_tools/benchmark_a3d.py trains it also as smaller networks (base_channels,
# frames, size).
_base_ = ['./a3d-0.016-1_slowonly-tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py']
model = dict(
    _delete_=True,
    type='Recognizer3D',
    backbone=dict(
        type='ResNet3dSlowOnly', depth=50, pretrained=None, lateral=False,
        conv1_kernel=(1, 7, 7), conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1),
        stage_blocks=(1, 1, 1, 1), base_channels=16),
    cls_head=dict(type='I3DHead', in_channels=512, num_classes=10, spatial_type='avg',
                  dropout_ratio=0.2, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[114.75, 114.75, 114.75],
                           std=[57.375, 57.375, 57.375], format_shape='NCTHW'))
custom_hooks = []  # no A3D BN calibration for the plain model
