# ETAD on ActivityNet-1.3 TSP features with the paper's settings (ETAD: A Unified Framework for
# Efficient Temporal Action Detection, arXiv 2205.07134, Table 1: 37.78 avg mAP), 1 GPU: AdamW lr
# 1e-3, wd 1e-4, batch 16, 6 epochs (x0.1 after 5), DPS random 6%, 3 cascade stages. Classes come
# from an external video-level classifier (TADMetric.class_score_file), as in the paper, so the
# built-in classification head is off. Data layout: see
# configs/_base_/datasets/activitynet/tsp_feature.py.
# Follows OpenTAD configs/etad/anet_tsp.py (dataset features_tsp_resize.py); its RoI-averaging
# feature resize is not adopted yet (linear interpolation here), see the dataset config's header.
_base_ = [
    '../_base_/models/etad.py', '../_base_/datasets/activitynet/tsp_feature.py',
    '../_base_/schedules/adamw_6e.py', '../_base_/default_runtime.py'
]
model = dict(neck=dict(in_channels=512), cls_head=None)
