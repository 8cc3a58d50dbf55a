# A3D range preset [0.06, 1] (A3D: Adaptive 3D Networks for Video Action Recognition,
# arXiv 2011.12384, sec. 4): gamma_w ~ U[0.63, 1],
# gamma_s in {0.63, 0.8, 1} (142/178/224 px), gamma_t in {0.4, 0.63, 1} (3/5/8 frames).
a3d_mutual_cfg = dict(
    width_range=(0.63, 1.0),
    spatial_factors=(0.63, 0.8, 1.0),
    temporal_factors=(0.4, 0.63, 1.0),
    num_random_widths=1,
    kl_weight=1.0,
    temperature=1.0,
    seed=0)
a3d_table = dict(
    widths=(0.63, 0.73, 0.83, 0.93, 1.0),
    spatial_factors=(0.63, 0.8, 1.0),
    temporal_factors=(0.4, 0.63, 1.0),
    calib_batches=8)
