import pytest
import torch

from mmtad_ext.models.task_modules import ProposalSampler, num_valid_proposals


def test_enumeration_counts_and_validity():
    s = ProposalSampler(temporal_dim=128, ratio=0.06, seed=0)
    assert s.num_valid == 8256 == num_valid_proposals(128)
    assert s.num_samples == round(0.06 * 8256) == 495
    props = s.sample(training=False)
    assert props.shape == (8256, 2)
    assert bool((props[:, 0] <= props[:, 1]).all()) and int(props.max()) == 127
    assert len({tuple(p) for p in props.tolist()}) == 8256  # no duplicate
    capped = ProposalSampler(temporal_dim=10, max_duration=3, seed=0)
    assert capped.num_valid == 10 + 9 + 8 == num_valid_proposals(10, 3)


@pytest.mark.parametrize('strategy', ['random', 'block'])
def test_determinism_and_count(strategy):
    a = ProposalSampler(temporal_dim=64, ratio=0.1, strategy=strategy, seed=3)
    b = ProposalSampler(temporal_dim=64, ratio=0.1, strategy=strategy, seed=3)
    seq_a = [a.sample_indices() for _ in range(4)]
    seq_b = [b.sample_indices() for _ in range(4)]
    for x, y in zip(seq_a, seq_b):
        assert torch.equal(x, y)
        assert x.numel() == a.num_samples
        assert x.unique().numel() == x.numel()
    c = ProposalSampler(temporal_dim=64, ratio=0.1, strategy=strategy, seed=4)
    assert any(not torch.equal(x, c.sample_indices()) for x in seq_a)


def _cells(sampler, idx):
    """(duration index, start) map cells of sampled indices."""
    p = sampler.valid_proposals[idx]
    return p[:, 1] - p[:, 0], p[:, 0]


def test_grid_is_the_fixed_2d_grid_of_the_public_code():
    s = ProposalSampler(temporal_dim=128, ratio=0.06, strategy='grid', seed=0)
    idx = s.sample_indices()
    assert torch.equal(idx, s.sample_indices())  # fixed: the same every iteration
    d, start = _cells(s, idx)
    # rows and columns 1, 1 + k, 1 + 2k, ... rounded, k = sqrt(1 / 0.06) = 4.08
    lines = [round(1 + i * (1 / 0.06)**0.5) for i in range(32) if 1 + i * (1 / 0.06)**0.5 < 128]
    assert set(d.tolist()) <= set(lines) and set(start.tolist()) <= set(lines)
    expected = sum(1 for r in lines for c in lines if r + c < 128)
    assert idx.numel() == expected == s.num_samples
    assert abs(expected - 0.06 * 8256) < 0.1 * 0.06 * 8256  # about 6% of the map


def test_block_is_a_square_inside_the_valid_triangle():
    s = ProposalSampler(temporal_dim=128, ratio=0.06, strategy='block', seed=0)
    w = int(495**0.5)  # 22
    assert s.block_size == w and s.num_samples == w * w
    corners = set()
    for _ in range(50):
        d, start = _cells(s, s.sample_indices())
        assert d.numel() == w * w
        assert int(d.max() - d.min()) == w - 1 and int(start.max() - start.min()) == w - 1
        assert bool((d + start < 128).all())
        assert 0 <= int(d.min()) <= 128 - 2 * w
        assert int(start.min()) <= 128 - 2 * w - int(d.min())
        corners.add((int(d.min()), int(start.min())))
    assert len(corners) > 40  # a random place every draw
    with pytest.raises(ValueError, match='block'):
        ProposalSampler(temporal_dim=10, ratio=0.8, strategy='block')


def test_seed_follows_the_global_rng_unless_set():
    torch.manual_seed(7)
    a = ProposalSampler(temporal_dim=32, ratio=0.1)
    torch.manual_seed(7)
    b = ProposalSampler(temporal_dim=32, ratio=0.1)
    torch.manual_seed(8)
    c = ProposalSampler(temporal_dim=32, ratio=0.1)
    draws = [[s.sample_indices() for _ in range(3)] for s in (a, b, c)]
    assert all(torch.equal(x, y) for x, y in zip(draws[0], draws[1]))
    assert not all(torch.equal(x, y) for x, y in zip(draws[0], draws[2]))
    torch.manual_seed(8)
    d = ProposalSampler(temporal_dim=32, ratio=0.1, seed=5)
    torch.manual_seed(9)
    e = ProposalSampler(temporal_dim=32, ratio=0.1, seed=5)
    assert torch.equal(d.sample_indices(), e.sample_indices())


def test_coverage_of_scales():
    """Random and grid cover short and long proposals; a block covers a narrow band."""
    durations = {}
    for strategy in ('random', 'grid', 'block'):
        s = ProposalSampler(temporal_dim=128, ratio=0.06, strategy=strategy, seed=0)
        p = s.sample()
        durations[strategy] = (p[:, 1] - p[:, 0] + 1).float()
    for strategy in ('random', 'grid'):
        assert durations[strategy].min() <= 5 and durations[strategy].max() >= 100
    assert durations['block'].max() - durations['block'].min() <= 22


def test_all_proposals_at_test_time_and_state_roundtrip():
    s = ProposalSampler(temporal_dim=32, ratio=0.2, seed=0)
    assert torch.equal(s.sample(training=False), s.valid_proposals)
    state = s.state_dict()
    first = s.sample()
    s.load_state_dict(state)
    assert torch.equal(first, s.sample())


@pytest.mark.parametrize('kwargs', [dict(ratio=0), dict(ratio=1.5), dict(strategy='dense'),
                                    dict(temporal_dim=0), dict(max_duration=200)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ProposalSampler(**dict(dict(temporal_dim=128), **kwargs))
