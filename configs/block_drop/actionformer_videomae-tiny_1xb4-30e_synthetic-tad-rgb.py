# ActionFormer end to end on raw video with a tiny VideoMAE-shaped encoder (8 blocks, width 64,
# 4-frame 32x32 snippets, 2 temporal tokens per snippet): the uncompressed detector that
# block drop starts from (CPU, minutes; OMP_NUM_THREADS=1 on a shared machine).
#   python tools/make_synthetic_tad.py --modality video --out-dir data/synthetic_tad_video
#   python tools/train.py configs/block_drop/actionformer_videomae-tiny_1xb4-30e_synthetic-tad-rgb.py
# The encoder trains from scratch with the detector (EGS ratio 1.0: plain end to end).
_base_ = [
    '../_base_/models/actionformer.py', '../_base_/datasets/synthetic_tad/video.py',
    '../_base_/schedules/actionformer_adamw-cosine.py', '../_base_/default_runtime.py'
]
model = dict(
    data_preprocessor=dict(_delete_=True, type='ActionDataPreprocessor',
                           mean=[110.0, 110.0, 110.0], std=[40.0, 40.0, 40.0],
                           format_shape='NCTHW'),
    backbone=dict(
        type='EGSBackboneWrapper',
        backbone=dict(type='VideoMAEEncoder', out_type='temporal', img_size=32, patch_size=8,
                      embed_dims=64, depth=8, num_heads=4, mlp_ratio=4, qkv_bias=True,
                      num_frames=4, tubelet_size=2, drop_path_rate=0.0, use_mean_pooling=True),
        sampling_ratio=1.0, mode='joint', chunk_size=64, seed=0, keep_temporal=True),
    projection=dict(in_channels=64, embed_dims=64, window_size=9, drop_path=0.1,
                    max_seq_len=64),
    neck=dict(in_channels=64),
    head=dict(num_classes=4, in_channels=64, feat_channels=64))
train_dataloader = dict(batch_size=4)
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=max_epochs, T_max=max_epochs - 5,
         eta_min=0.0, convert_to_iter_based=True)
]
val_evaluator = dict(nms_cfg=dict(type='soft', sigma=0.5, iou_threshold=0.1, min_score=1e-3))
test_evaluator = val_evaluator
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=10))
