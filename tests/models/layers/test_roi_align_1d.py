import pytest
import torch

from mmtad_ext.models.layers import RoIAlign1d


def test_exact_linear_interpolation():
    feats = torch.arange(10, dtype=torch.float32).view(1, 1, 10)  # value i at time i + 0.5
    layer = RoIAlign1d(output_size=4, sampling_ratio=1)
    out = layer(feats, torch.tensor([[0., 2., 6.]]))  # bins centred at 2.5, 3.5, 4.5, 5.5
    assert torch.allclose(out, torch.tensor([[[2., 3., 4., 5.]]]))
    out = layer(feats, torch.tensor([[0., 2., 4.]]))  # centres 2.25 ... 3.75
    assert torch.allclose(out, torch.tensor([[[1.75, 2.25, 2.75, 3.25]]]))


def test_batch_index_and_shape():
    feats = torch.stack([torch.zeros(3, 8), torch.ones(3, 8)])
    out = RoIAlign1d(output_size=5)(feats, torch.tensor([[1., 0., 8.], [0., 0., 8.]]))
    assert out.shape == (2, 3, 5)
    assert torch.allclose(out[0], torch.ones(3, 5)) and torch.allclose(out[1], torch.zeros(3, 5))


def test_gradcheck():
    torch.manual_seed(0)
    feats = torch.randn(2, 3, 12, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0., 1.3, 7.9], [1., -2.0, 5.5], [1., 3.25, 11.9]], dtype=torch.float64)
    layer = RoIAlign1d(output_size=4, sampling_ratio=2)
    assert torch.autograd.gradcheck(lambda f: layer(f, rois), (feats, ), eps=1e-6, atol=1e-5)


def test_bad_rois():
    with pytest.raises(ValueError, match='rois must be'):
        RoIAlign1d()(torch.zeros(1, 2, 8), torch.zeros(3, 5))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu():
    torch.manual_seed(0)
    feats = torch.randn(2, 8, 64, requires_grad=True)
    rois = torch.tensor([[0., 1.3, 30.9], [1., -2.0, 5.5], [1., 13.25, 61.9]])
    layer = RoIAlign1d(output_size=8)
    out = layer(feats, rois)
    out.square().sum().backward()
    feats_cuda = feats.detach().cuda().requires_grad_()
    out_cuda = layer(feats_cuda, rois.cuda())
    out_cuda.square().sum().backward()
    assert torch.allclose(out, out_cuda.cpu(), atol=1e-5)
    assert torch.allclose(feats.grad, feats_cuda.grad.cpu(), atol=1e-4)


def test_runs_in_float32_under_autocast():
    feats = torch.randn(1, 2, 128)
    rois = torch.tensor([[0., 100.3, 110.7]])
    layer = RoIAlign1d(output_size=4, sampling_ratio=2)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = layer(feats.bfloat16(), rois)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, layer(feats.bfloat16().float(), rois))  # coordinates exact


@pytest.mark.parametrize('sampling_ratio', [1, 2, 3])
@pytest.mark.parametrize('aligned', [True, False])
def test_fused_linear_equals_roi_features_then_linear(sampling_ratio, aligned):
    """RoIAlign1d.linear == Linear(RoIAlign(...).flatten(1)) (float64: to rounding), with the
    same gradient; RoIs inside, across and beyond both ends of the sequence, shorter than one
    snippet (``aligned=False`` stretches them to one), several samples."""
    torch.manual_seed(0)
    layer = RoIAlign1d(output_size=8, sampling_ratio=sampling_ratio, aligned=aligned)
    feats = torch.randn(3, 5, 20, dtype=torch.float64, requires_grad=True)
    ends = (torch.rand(300, 2, dtype=torch.float64) * 30 - 5).sort(dim=1).values
    rois = torch.cat([torch.randint(0, 3, (300, 1)).double(), ends], dim=1)
    rois[:4, 1:] = torch.tensor([[-3.0, -1.2], [19.5, 24.0], [0.0, 20.0], [7.2, 7.5]],
                                dtype=torch.float64)
    for bins, width in ((None, 8), (slice(0, 2), 2), (slice(-2, None), 2)):
        fc = torch.nn.Linear(5 * width, 7).double()
        roi = layer(feats, rois)
        ref = fc((roi if bins is None else roi[:, :, bins]).flatten(1))
        out = layer.linear(feats, rois, fc, bins)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
        g_ref, = torch.autograd.grad(ref.square().sum(), feats)
        g_out, = torch.autograd.grad(out.square().sum(), feats)
        torch.testing.assert_close(g_out, g_ref, rtol=0, atol=1e-11)


def test_fused_linear_float32_and_errors():
    torch.manual_seed(1)
    layer = RoIAlign1d(output_size=4, sampling_ratio=2)
    feats = torch.randn(1, 3, 16)
    rois = torch.tensor([[0., 1.3, 7.9], [0., -2.0, 5.5], [0., 3.25, 15.9]])
    fc = torch.nn.Linear(12, 5)
    torch.testing.assert_close(layer.linear(feats, rois, fc), fc(layer(feats, rois).flatten(1)),
                               rtol=1e-5, atol=1e-5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert layer.linear(feats.bfloat16(), rois, fc).dtype == torch.float32
    with pytest.raises(ValueError, match='reads 7 inputs'):
        layer.linear(feats, rois, torch.nn.Linear(7, 5))
    with pytest.raises(ValueError, match='sampling_ratio >= 1'):
        RoIAlign1d(4, sampling_ratio=0).linear(feats, rois, fc)
