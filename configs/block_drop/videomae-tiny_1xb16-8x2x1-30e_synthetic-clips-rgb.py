# The uncompressed model that block drop starts from: a tiny VideoMAE-shaped ViT (8 blocks)
# trained from scratch on the synthetic clip task (CPU, minutes).
#   python tools/make_synthetic_clips.py --out-dir data/a3d_synthetic_clips
#   python tools/train.py configs/block_drop/videomae-tiny_1xb16-8x2x1-30e_synthetic-clips-rgb.py
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/videomae-tiny_recognizer.py',
    '../_base_/datasets/a3d_synthetic_clips/rgb-8x2x1.py'
]
max_epochs = 30
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
                 val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                     clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 2, eta_min=0, by_epoch=True, begin=2,
         end=max_epochs, convert_to_iter_based=True)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1),
                     logger=dict(interval=25))
