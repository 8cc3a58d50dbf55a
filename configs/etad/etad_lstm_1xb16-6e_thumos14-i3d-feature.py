# ETAD on THUMOS14 I3D features with the paper's settings (ETAD: A Unified Framework for Efficient
# Temporal Action Detection, arXiv 2205.07134, Table 2: mAP@0.3..0.7 =
# 70.29/65.26/57.81/47.88/36.25), 1 GPU, batch 16: sliding windows of 128 snippets (stride 64),
# predictions of the windows mapped back to seconds and merged before Soft-NMS, external video-level
# class scores (TADMetric.class_score_file). Data layout:
# configs/_base_/datasets/thumos14/i3d_feature.py.
# Follows OpenTAD configs/etad/thumos_i3d.py (dataset configs/_base_/datasets/thumos-14/
# features_i3d_sw.py), with its I3D time alignment (snippet t centred at (4t + 8) / fps per
# video, see the dataset config's header).
_base_ = [
    '../_base_/models/etad.py', '../_base_/datasets/thumos14/i3d_feature.py',
    '../_base_/schedules/adamw_6e.py', '../_base_/default_runtime.py'
]
model = dict(neck=dict(in_channels=2048), cls_head=None)
