# Tiny VideoMAE-shaped ViT classifier (mmaction2 Recognizer3D + our LoRA-ready VideoMAEEncoder)
# for the synthetic clip task: 8 frames x 32 px, tubelet 2, 8 px patches -> 4 x 4 x 4 = 64
# tokens, 8 blocks of width 64.
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='VideoMAEEncoder', img_size=32, patch_size=8, embed_dims=64, depth=8, num_heads=4,
        mlp_ratio=4, qkv_bias=True, num_frames=8, tubelet_size=2, drop_path_rate=0.0,
        use_mean_pooling=True),
    cls_head=dict(type='TimeSformerHead', num_classes=10, in_channels=64, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[114.75, 114.75, 114.75],
                           std=[57.375, 57.375, 57.375], format_shape='NCTHW'))
