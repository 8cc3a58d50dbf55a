# A3D-Slow (A3D: Adaptive 3D Networks for Video Action Recognition, arXiv 2011.12384):
# SlimmableResNet3D in the Slow-8x8 R50 layout + I3D head, trained by
# A3DRecognizer3D's mutual training. The range preset (mutual_cfg) comes from
# a3d_range-0.016-1.py or a3d_range-0.06-1.py. Under a distributed launcher the mutual-training
# train_step needs DelegatingDistributedDataParallel (mmengine's default DDP wrapper would call
# forward(mode='loss'), which A3DRecognizer3D refuses); plain models fall back to mmengine's.
# The name carries the scope: mmengine's Runner.wrap_model looks it up in its root registry.
model_wrapper_cfg = dict(
    type='mmtad_ext.DelegatingDistributedDataParallel',
    broadcast_buffers=False,  # mmengine's defaults when model_wrapper_cfg is not set
    find_unused_parameters=False)
model = dict(
    type='A3DRecognizer3D',
    backbone=dict(
        type='SlimmableResNet3D',
        depth=50,
        pretrained=None,
        lateral=False,
        conv1_kernel=(1, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        inflate=(0, 0, 1, 1),
        width_divisor=8,
        min_channels=8),
    cls_head=dict(
        type='I3DHead',
        in_channels=2048,
        num_classes=400,
        spatial_type='avg',
        dropout_ratio=0.5,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))
