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


@pytest.mark.parametrize('strategy', ['random', 'grid', 'block'])
def test_determinism_and_count(strategy):
    a = ProposalSampler(temporal_dim=64, ratio=0.1, strategy=strategy, seed=3)
    b = ProposalSampler(temporal_dim=64, ratio=0.1, strategy=strategy, seed=3)
    seq_a = [a.sample_indices() for _ in range(4)]
    seq_b = [b.sample_indices() for _ in range(4)]
    for x, y in zip(seq_a, seq_b):
        assert torch.equal(x, y)
        assert x.numel() == round(0.1 * a.num_valid)
        assert x.unique().numel() == x.numel()
    c = ProposalSampler(temporal_dim=64, ratio=0.1, strategy=strategy, seed=4)
    assert any(not torch.equal(x, c.sample_indices()) for x in seq_a)


def test_strategy_shapes():
    n = ProposalSampler(temporal_dim=64, ratio=0.1, seed=0).num_valid
    block = ProposalSampler(temporal_dim=64, ratio=0.1, strategy='block', seed=1).sample_indices()
    assert torch.equal(block, torch.arange(int(block[0]), int(block[0]) + block.numel()))
    grid = ProposalSampler(temporal_dim=64, ratio=0.1, strategy='grid', seed=1).sample_indices()
    steps = grid.diff()
    assert int(steps.max()) - int(steps.min()) <= 1  # evenly strided
    assert abs(steps.float().mean().item() - n / grid.numel()) < 1


def test_coverage_of_scales():
    """Random and grid cover short and long proposals; a block covers a narrow band."""
    durations = {}
    for strategy in ('random', 'grid', 'block'):
        s = ProposalSampler(temporal_dim=128, ratio=0.06, strategy=strategy, seed=0)
        p = s.sample()
        durations[strategy] = (p[:, 1] - p[:, 0] + 1).float()
    for strategy in ('random', 'grid'):
        assert durations[strategy].min() <= 5 and durations[strategy].max() >= 100
    assert durations['block'].max() - durations['block'].min() <= 10


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
