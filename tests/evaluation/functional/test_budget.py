"""A3D budget table: Pareto front and the most accurate row within a budget."""
import pytest

from mmtad_ext.evaluation.functional import pareto_front, select_row


def _row(w, gmacs, latency_ms, top1):
    return dict(gamma_w=w, gamma_s=1.0, gamma_t=1.0, gmacs=gmacs, latency_ms=latency_ms,
                top1=top1)


ROWS = [_row(0.5, 1.0, 9.0, 0.50), _row(0.6, 2.0, 3.0, 0.70), _row(0.7, 2.0, 4.0, 0.60),
        _row(0.8, 3.0, 5.0, 0.65), _row(1.0, 4.0, 6.0, 0.80)]


def test_pareto_front_by_cost():
    # by GFLOPs: (2.0, 0.6) is dominated by (2.0, 0.7), (3.0, 0.65) by (2.0, 0.7)
    assert [r['gamma_w'] for r in pareto_front(ROWS)] == [0.5, 0.6, 1.0]
    # by latency: 0.6 is the fastest and better than 0.7, 0.8, 0.5
    assert [r['gamma_w'] for r in pareto_front(ROWS, cost='latency_ms')] == [0.6, 1.0]
    assert pareto_front([]) == []


def test_select_row_within_budget():
    assert select_row(ROWS, gmacs=3.5)['gamma_w'] == 0.6
    assert select_row(ROWS, gmacs=4.0)['gamma_w'] == 1.0
    assert select_row(ROWS, latency_ms=5.5)['gamma_w'] == 0.6
    assert select_row(ROWS, gmacs=1.0)['gamma_w'] == 0.5  # the budget is inclusive
    tie = [_row(0.5, 1.0, 1.0, 0.7), _row(0.6, 2.0, 2.0, 0.7)]
    assert select_row(tie, gmacs=10)['gamma_w'] == 0.5  # equal accuracy: the cheaper one


@pytest.mark.parametrize('rows,kwargs,match', [
    (ROWS, dict(), 'exactly one'),
    (ROWS, dict(gmacs=1.0, latency_ms=1.0), 'exactly one'),
    ([], dict(gmacs=1.0), 'empty'),
    (ROWS, dict(gmacs=0.5), r'no sub-network fits gmacs <= 0.5; the cheapest row needs 1'),
])
def test_select_row_errors(rows, kwargs, match):
    with pytest.raises(ValueError, match=match):
        select_row(rows, **kwargs)
