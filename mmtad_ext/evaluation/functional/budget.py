"""Budget table of A3D: Pareto front and the best row for a budget.

*A3D: Adaptive 3D Networks for Video Action Recognition* (arXiv 2011.12384), sec. 3.3.

A row is a dict with the sub-network (``gamma_w``, ``gamma_s``, ``gamma_t``), its cost
(``gmacs``, ``latency_ms``) and its accuracy (``top1``); ``tools/a3d_budget_table.py`` measures
them (:mod:`mmtad_ext.apis.a3d_budget`).
"""
import math
import numbers
from typing import Dict, List, Optional


def pareto_front(rows: List[Dict], cost: str = 'gmacs', score: str = 'top1') -> List[Dict]:
    """Rows not dominated by a cheaper-or-equal row with a higher-or-equal score.

    Returns them sorted by increasing cost (each is strictly more accurate than the previous).
    """
    front: List[Dict] = []
    for row in sorted(rows, key=lambda r: (r[cost], -r[score])):
        if not front or row[score] > front[-1][score]:
            front.append(row)
    return front


def select_row(rows: List[Dict], gmacs: Optional[float] = None,
               latency_ms: Optional[float] = None) -> Dict:
    """The most accurate row within the budget (ties: the cheaper one).

    Args:
        rows (list[dict]): Table rows with ``gmacs``, ``latency_ms``, ``top1`` and the
            sub-network.
        gmacs (float, optional): Budget in GMACs per clip (a number > 0; ``inf``: the most
            accurate row). Defaults to None.
        latency_ms (float, optional): Latency budget, likewise. Defaults to None.

    Returns:
        dict: The chosen row.

    Raises:
        TypeError: The budget is not a real number.
        ValueError: Both or neither budget given, the budget is NaN or <= 0, the table is
            empty, or no row fits.
    """
    if (gmacs is None) == (latency_ms is None):
        raise ValueError('give exactly one of gmacs= or latency_ms=')
    name, value = ('gmacs', gmacs) if gmacs is not None else ('latency_ms', latency_ms)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a number > 0, got {value!r} ({type(value).__name__})')
    if math.isnan(value) or value <= 0:
        raise ValueError(f'{name} must be a number > 0, got {value!r}')
    if not rows:
        raise ValueError('the budget table is empty: build it with '
                         'tools/a3d_budget_table.py and load the deploy checkpoint it writes')
    key, budget = ('gmacs', gmacs) if gmacs is not None else ('latency_ms', latency_ms)
    fits = [r for r in rows if r[key] <= budget]
    if not fits:
        cheapest = min(r[key] for r in rows)
        raise ValueError(f'no sub-network fits {key} <= {budget}; the cheapest row needs '
                         f'{cheapest:.4g}')
    return max(fits, key=lambda r: (r['top1'], -r[key]))
