"""ActionFormer detector: losses, padding masks, seconds conversion, raw-video end to end."""
import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

from mmtad_ext.registry import MODELS

PROJ = dict(type='ActionFormerProjection', in_channels=16, embed_dims=16, num_heads=2,
            window_size=5, drop_path=0.0)


def build(backbone=None, in_channels=16, **kwargs):
    torch.manual_seed(0)
    cfg = dict(type='ActionFormer', projection=dict(PROJ, in_channels=in_channels),
               neck=dict(type='FPNIdentity', in_channels=16),
               head=dict(type='ActionFormerHead', num_classes=3, in_channels=16),
               backbone=backbone, **kwargs)
    return MODELS.build(cfg)


def samples(n, segs=((0.1, 0.3), (0.5, 0.9)), labels=(1, 2), **meta):
    out = []
    for _ in range(n):
        ds = ActionDataSample()
        gt = InstanceData()
        gt.segments = torch.tensor(segs, dtype=torch.float32).reshape(-1, 2)
        gt.labels = torch.tensor(labels, dtype=torch.long)
        ds.gt_instances = gt
        ds.set_metainfo(dict(dict(window_start=0.0, window_duration=32.0), **meta))
        out.append(ds)
    return out


def test_loss_backward_and_levels():
    model = build().train()
    losses = model(torch.randn(2, 16, 64), samples(2), mode='loss')
    assert set(losses) == {'loss_cls', 'loss_reg'}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    cls_out, _ = model(torch.randn(1, 16, 64), samples(1), mode='tensor')
    assert [c.shape[-1] for c in cls_out] == [64, 32, 16, 8, 4, 2]


def test_padding_and_valid_length_do_not_change_valid_outputs():
    """A 40-snippet input is padded to 64; marking 40 of 64 zero-padded snippets valid gives
    the same outputs on the valid points."""
    model = build().eval()
    x = torch.randn(1, 16, 40)
    a, _ = model(x, samples(1), mode='tensor')
    b, _ = model(torch.cat([x, torch.zeros(1, 16, 24)], -1), samples(1, valid_length=40),
                 mode='tensor')
    for la, lb, n in zip(a, b, (40, 20, 10, 5, 3, 2)):  # valid points per level
        assert torch.allclose(la[..., :n], lb[..., :n], atol=1e-5)


def test_predictions_in_seconds(monkeypatch):
    model = build().eval()

    def fake(*args, **kwargs):  # one segment covering snippets 3..7 (centres), label 2
        return torch.tensor([[3.0, 7.0]]), torch.tensor([0.9]), torch.tensor([2])

    monkeypatch.setattr(model.head, 'predict_single', fake)
    out = model(torch.randn(1, 16, 32), samples(1, window_start=10.0, window_duration=64.0),
                mode='predict')[0]
    # snippet t covers [t, t + 1) x 2 s from 10 s: centres (3.5, 7.5) x 2 + 10
    assert torch.allclose(out.pred_instances.segments, torch.tensor([[17.0, 25.0]]))
    assert out.pred_instances.labels.tolist() == [2]


def test_gt_round_trips_through_the_grid():
    """Targets put a segment's centre snippet on the point of that snippet."""
    segs, _ = build()._grid_targets(samples(1, segs=((0.25, 0.5), ), labels=(0, )), 32)
    assert torch.allclose(segs[0], torch.tensor([[7.5, 15.5]]))


def test_bad_configs():
    with pytest.raises(ValueError, match='unknown keys'):
        build(test_cfg=dict(nms=0.5))
    with pytest.raises(ValueError, match='num_classes=1'):
        build(test_cfg=dict(class_agnostic=True))


VIT = dict(type='VideoMAEEncoder', out_type='temporal', img_size=32, patch_size=16,
           embed_dims=16, depth=2, num_heads=2, num_frames=4, tubelet_size=2)


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
@pytest.mark.parametrize('mode', ['joint', 'two_phase'])
def test_end_to_end_with_videomae_and_egs(mode):
    """Raw snippets -> EGS(VideoMAEEncoder, temporal tokens) -> ActionFormer, one optimizer
    step through mmengine's OptimWrapper; the encoder receives gradient."""
    from mmengine.optim import OptimWrapper
    backbone = dict(type='EGSBackboneWrapper', backbone=VIT, ratio=0.5, mode=mode,
                    chunk_size=4, seed=0, keep_temporal=True, with_cp=True)
    model = build(backbone=backbone, data_preprocessor=dict(
        type='ActionDataPreprocessor', mean=[0.0] * 3, std=[1.0] * 3, format_shape='NCTHW'))
    model.train()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    data = dict(inputs=[torch.randn(16, 3, 4, 32, 32) for _ in range(2)],
                data_samples=samples(2))  # 16 snippets x 2 tokens = 32 positions
    before = model.backbone.backbone.patch_embed.projection.weight.clone()
    log = model.train_step(data, optim)
    assert torch.isfinite(log['loss'])
    assert not torch.equal(before, model.backbone.backbone.patch_embed.projection.weight)


class FrameTimeTokens(torch.nn.Module):
    """A stand-in encoder whose temporal token is the mean pixel of its tubelet of 2 frames:
    fed frames whose pixels hold their time, each token holds the mean time it covers."""

    def forward(self, x):  # (M, C, T, H, W) -> (M, 1, T / 2)
        return x.mean((1, 3, 4)).unflatten(1, (-1, 2)).mean(-1)[:, None]


@pytest.mark.parametrize('setting', ['thumos_window', 'anet_whole_video'])
def test_detection_at_a_position_maps_to_the_time_of_its_frames(setting, monkeypatch):
    """End-to-end frame sampling: the frames read for a sample (sampling='frames'), encoded
    16 per snippet into 8 tokens each, resized to the T positions (temporal_length), and the
    detector's mapping of a detection at position i back to seconds agree: position i is the
    time of the frames behind it (THUMOS14: one frame every 4 of a window, 2x upsampled;
    ActivityNet: 4 frames per position over the whole video, 2x downsampled)."""
    from mmtad_ext.datasets.transforms.video_transforms import frame_grid_times
    t = 64
    if setting == 'thumos_window':  # window of 64 positions from position 100, stride 4
        fps, w0 = 30.0, 100
        times = frame_grid_times(t, 1, fps, 9000, window_start_snippet=w0, snippet_stride=4)
        meta = dict(window_start=w0 * 4 / fps, window_duration=t * 4 / fps)
        per_position = times
    else:  # 100 s at 25 fps: 256 frames over the whole video, 4 per position
        times = frame_grid_times(t, 4, 25.0, 2500)
        meta = dict(window_start=0.0, window_duration=100.0)
        per_position = times.reshape(t, 4).mean(1)
    frames = torch.tensor(times, dtype=torch.float32).view(-1, 1, 16, 1, 1)  # (N, 1, 16, 1, 1)
    wrapper = MODELS.build(dict(type='EGSBackboneWrapper', backbone=VIT, ratio=1.0,
                                keep_temporal=True, temporal_length=t))
    wrapper.backbone = FrameTimeTokens()
    with torch.no_grad():
        tokens = wrapper.eval()(frames.expand(-1, 3, -1, 2, 2)[None])[0, 0]  # (T,)
    interior = slice(1, -1)  # the resize clamps at the two ends (OpenTAD's Interpolate too)
    torch.testing.assert_close(tokens[interior].double(),
                               torch.tensor(per_position[interior]), atol=1e-3, rtol=0)
    model = build().eval()
    points = torch.arange(t, dtype=torch.float32)

    def fake(*args, **kwargs):  # a detection at every position
        return torch.stack([points, points], 1), torch.ones(t), torch.zeros(t, dtype=torch.long)

    monkeypatch.setattr(model.head, 'predict_single', fake)
    out = model(torch.randn(1, 16, t), samples(1, temporal_dim=t, **meta), mode='predict')[0]
    np.testing.assert_allclose(out.pred_instances.segments[:, 0].double().numpy(),
                               per_position, atol=1e-4)


def test_valid_length_counts_positions_of_the_dataset_grid():
    """A window of 48 snippets (10 valid) encoded into 8 tokens per snippet: 80 valid tokens."""
    model = build()
    mask = model._masks(torch.zeros(2, 16, 384), samples(1, valid_length=10, temporal_dim=48)
                        + samples(1, valid_length=30))
    assert mask.sum(1).tolist() == [80, 30]
