# ETAD on the embedded synthetic feature benchmark (what `make demo` runs). Classes come from the
# built-in video-level classification head, trained jointly.
_base_ = [
    '../_base_/models/etad.py', '../_base_/datasets/synthetic_tad/feature.py',
    '../_base_/schedules/adamw_6e.py', '../_base_/default_runtime.py'
]
model = dict(
    neck=dict(in_channels=64, channels=128),
    boundary_head=dict(in_channels=128, feat_channels=128),
    proposal_head=dict(in_channels=128, feat_channels=64, fc_channels=256),
    cls_head=dict(in_channels=128, num_classes=5))
default_hooks = dict(logger=dict(interval=5))
