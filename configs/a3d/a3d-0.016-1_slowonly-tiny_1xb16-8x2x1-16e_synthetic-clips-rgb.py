# A3D on the synthetic clip task (trains on CPU in minutes, 1 process x 16 clips of 8 frames at
# interval 2): a tiny Slow ResNet (bottleneck, one block per stage, 16 base channels) with the
# [0.016, 1] range preset.
#   python tools/make_synthetic_clips.py --out-dir data/a3d_synthetic_clips
#   python tools/train.py \
#       configs/a3d/a3d-0.016-1_slowonly-tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py
#   python tools/a3d_budget_table.py \
#       configs/a3d/a3d-0.016-1_slowonly-tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py \
#       work_dirs/a3d-0.016-1_slowonly-tiny_1xb16-8x2x1-16e_synthetic-clips-rgb/epoch_16.pth
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/a3d_slowonly-r50.py',
    '../_base_/models/a3d_range-0.016-1.py', '../_base_/datasets/a3d_synthetic_clips/rgb-8x2x1.py',
    '../_base_/schedules/a3d_adamw-cosine_synthetic.py'
]
model = dict(
    mutual_cfg={{_base_.a3d_mutual_cfg}},
    backbone=dict(stage_blocks=(1, 1, 1, 1), base_channels=16, width_divisor=4, min_channels=4),
    cls_head=dict(in_channels=512, num_classes=10, dropout_ratio=0.2),
    data_preprocessor=dict(mean=[114.75, 114.75, 114.75], std=[57.375, 57.375, 57.375]))
a3d_table = dict(calib_batches=4)
# After the last epoch, calibrate BN on 2 training batches for the corners and the middle width of
# the range (12 sub-networks; all 96 of a3d_table would add minutes on a CPU) and store them in
# the model, so the final checkpoint switches among them without data. tools/a3d_budget_table.py
# calibrates the full table.
custom_hooks = [
    dict(type='BNCalibrationHook', num_batches=2,
         table=dict(widths=(0.5, 0.75, 1.0), spatial_factors=(0.57, 1.0),
                    temporal_factors=(0.25, 1.0)))
]
default_hooks = dict(checkpoint=dict(interval=8, max_keep_ckpts=1), logger=dict(interval=25))
