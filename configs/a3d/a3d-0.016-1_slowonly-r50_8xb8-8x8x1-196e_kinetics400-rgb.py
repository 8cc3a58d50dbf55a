# A3D-Slow-8x8-[0.016, 1] on Kinetics-400, 8 GPUs x 8 clips (A3D: Adaptive 3D Networks for Video
# Action Recognition, arXiv 2011.12384, Table 1: 75.2 top-1 at x1).
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/a3d_slowonly-r50.py',
    '../_base_/models/a3d_range-0.016-1.py', '../_base_/datasets/a3d_kinetics400/rgb-8x8x1.py',
    '../_base_/schedules/a3d_sgd-cosine-196e_kinetics400.py'
]
default_hooks = dict(checkpoint=dict(interval=4, max_keep_ckpts=3))
model = dict(mutual_cfg={{_base_.a3d_mutual_cfg}})
