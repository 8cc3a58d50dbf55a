# ETAD on the embedded synthetic feature benchmark (`make demo` trains ActionFormer on the same data;
# DEMO_CONFIG=<this file> DEMO_EPOCHS=16 runs this one), 1 process (CPU) x 8
# videos. Classes come from the built-in video-level classification head, trained jointly. The
# benchmark is small (160 training videos, 200 validation videos), so the schedule trades the
# paper's 6 epochs of batch 16 for 16 epochs of batch 8 (320 iterations) and a higher learning
# rate, and resizes the videos (96-256 snippets) to 64 snippets instead of 128 (2080 valid
# proposals, 125 sampled at 6%). The proposal head is the public code's structure, narrowed so
# that the ratio-1.0 baseline trains in minutes on 2 CPU cores (RoIAlign of 16 points from 32
# channels, one sampling point per bin, FC widths 128/64); everything else is the paper's / public
# code's setting.
_base_ = [
    '../_base_/models/etad.py', '../_base_/datasets/synthetic_tad/feature.py',
    '../_base_/schedules/adamw_6e.py', '../_base_/default_runtime.py'
]
model = dict(
    neck=dict(in_channels=64, channels=128),
    boundary_head=dict(in_channels=128, feat_channels=128),
    proposal_head=dict(in_channels=128, feat_channels=32, mid_channels=128, fc_channels=64,
                       roi_size=16, roi_sampling_ratio=1),
    cls_head=dict(in_channels=64, feat_channels=128, num_classes=5),
    proposal_sampler=dict(temporal_dim=64))
train_dataloader = dict(batch_size=8)
max_epochs = 16
train_cfg = dict(max_epochs=max_epochs, val_interval=8)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[14], gamma=0.1)
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=4))
