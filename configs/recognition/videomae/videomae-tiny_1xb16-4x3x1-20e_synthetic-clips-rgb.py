# Pretrains the encoder of the end-to-end ActionFormer demo: videomae-tiny, a tiny VideoMAE-shaped
# ViT (VideoMAEEncoder: 8 blocks, width 64, 4 heads, 8x8 patches, tubelet 2) that
# configs/actionformer/actionformer_videomae-tiny-egs_1xb4-40e_synthetic-tad-rgb.py fine-tunes
# end to end. It stands in for VideoMAE's Kinetics pretraining: clip classification of the 10
# patterns of the shared renderer (the A3D synthetic clips), 4-frame clips (interval 3) at 32x32
# like the TAD snippets, 1 process (CPU) x 16 clips, 20 epochs.
#   python tools/make_synthetic_clips.py --out-dir data/a3d_synthetic_clips
#   python tools/train.py \
#       configs/recognition/videomae/videomae-tiny_1xb16-4x3x1-20e_synthetic-clips-rgb.py \
#       --work-dir work_dirs/videomae-tiny_pretrain
# The TAD config loads work_dirs/videomae-tiny_pretrain/epoch_20.pth (keys "backbone.*").
_base_ = ['../slowonly/slowonly_r18-tiny_1xb16-4x3x1-20e_synthetic-clips-rgb.py']
model = dict(
    backbone=dict(
        _delete_=True, type='VideoMAEEncoder', img_size=32, patch_size=8, embed_dims=64,
        depth=8, num_heads=4, mlp_ratio=4, num_frames=4, tubelet_size=2, drop_path_rate=0.0),
    cls_head=dict(_delete_=True, type='TimeSformerHead', num_classes=10, in_channels=64,
                  average_clips='prob'))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                     clip_grad=dict(max_norm=1.0))
