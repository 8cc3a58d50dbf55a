# ETAD on ActivityNet-1.3 TSP features with the module structure of the public code
# (github.com/sming256/ETAD, lib/models/detector/{feature,detector,pem}.py), so that its published
# checkpoints load and give its outputs: feature module with grouped convs (groups 4) and one conv
# per stream (forward LSTM, input, backward LSTM) before the 1x1 fusion, no convs after it;
# grouped first conv of the boundary (temporal evaluation) head; the public RoIAlign convention
# (torchvision aligned=False: a snippet's feature at its index, RoIs at least one snippet long;
# adaptive sampling points, which the fused RoIAlign + FC path does not cover, so the cascade
# materialises the RoI features). Everything else as
# etad_lstm_1xb16-6e_activitynet-tsp-feature.py. Convert a public checkpoint with
#   python tools/convert/opentad_to_mmtad.py SRC.pth OUT.pth --config THIS_CONFIG
_base_ = ['./etad_lstm_1xb16-6e_activitynet-tsp-feature.py']
model = dict(
    neck=dict(groups=4, branch_convs=True, num_convs=0),
    boundary_head=dict(groups=4),
    proposal_head=dict(roi_sampling_ratio=0, roi_aligned=False))
