# A3D range preset [0.016, 1] (A3D: Adaptive 3D Networks for Video Action Recognition,
# arXiv 2011.12384, sec. 4): gamma_w ~ U[0.5, 1],
# gamma_s in {0.57, 0.71, 0.86, 1} (128..224 px), gamma_t in {0.25, 0.5, 0.75, 1} (2..8 frames).
# Configs use it as model.mutual_cfg={{_base_.a3d_mutual_cfg}}. a3d_table: the 6 x 4 x 4 = 96 sub-networks of the budget table (sec. 3.3).
a3d_mutual_cfg = dict(
    width_range=(0.5, 1.0),
    spatial_factors=(0.57, 0.71, 0.86, 1.0),
    temporal_factors=(0.25, 0.5, 0.75, 1.0),
    num_random_widths=1,
    kl_weight=1.0,
    temperature=1.0,
    seed=0)
a3d_table = dict(
    widths=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    spatial_factors=(0.57, 0.71, 0.86, 1.0),
    temporal_factors=(0.25, 0.5, 0.75, 1.0),
    calib_batches=8)
