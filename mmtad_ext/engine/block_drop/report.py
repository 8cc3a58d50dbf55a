"""The per-stage report of block drop: the encoder's input shape, the stage table and the
run's report files.

Used by :class:`~mmtad_ext.engine.hooks.BlockDropHook` and
``tools/analysis_tools/benchmark_block_drop.py``. MACs and latency are counted by
:mod:`mmtad_ext.utils.measure`; the stage plot is
:func:`mmtad_ext.visualization.plot_block_drop_stages`.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from torch import nn

from mmtad_ext.utils.measure import count_macs, measure_latency_ms
from mmtad_ext.visualization import plot_block_drop_stages


def encoder_input_shape(encoder: nn.Module, batch: int = 1) -> Tuple[int, ...]:
    """(B, 3, T, H, W) clip shape a VideoMAE encoder was built for (its position embedding)."""
    proj = encoder.patch_embed.projection  # Conv3d: kernel (tubelet, patch, patch)
    tubelet, patch = proj.kernel_size[0], proj.kernel_size[1]
    gh, gw = encoder.grid_size
    num_t = encoder.pos_embed.shape[1] // (gh * gw)
    return (batch, proj.in_channels, num_t * tubelet, gh * patch, gw * patch)


def profile_encoder(encoder: nn.Module, latency_repeats: int) -> Dict:
    """MACs of a VideoMAE encoder on one clip of its input shape and, with
    ``latency_repeats > 0``, its median latency in ms (else None)."""
    x = torch.randn(encoder_input_shape(encoder), device=encoder.pos_embed.device)
    out = dict(macs=count_macs(encoder, (x, )), latency_ms=None)
    if latency_repeats > 0:
        out['latency_ms'] = measure_latency_ms(encoder, (x, ), repeats=latency_repeats, warmup=1)
    return out


def format_stage_table(records: Sequence[Dict]) -> str:
    """Plain-text table of block-drop stage records (one row per stage)."""
    head = ('stage', 'dropped', 'depth', 'before', 'after', 'GMACs', 'latency ms', 'select s',
            'recover s', 'kept')
    rows: List[Tuple] = [head]
    for r in records:
        rows.append((r['stage'], '-' if r.get('dropped') is None else r['dropped'], r['depth'],
                     _fmt(r.get('metric_before')), _fmt(r.get('metric_after')),
                     _fmt(None if r.get('macs') is None else r['macs'] / 1e9, 4),
                     _fmt(r.get('latency_ms'), 2),
                     _fmt(r.get('selection_s'), 1), _fmt(r.get('recovery_s'), 1),
                     'yes' if r.get('accepted', True) else 'no'))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    return '\n'.join('  '.join(str(v).rjust(w) for v, w in zip(row, widths)) for row in rows)


def _fmt(value, digits: int = 4) -> str:
    return '-' if value is None else f'{value:.{digits}f}'


def write_stage_report(work_dir: str, summary: Dict, records: Sequence[Dict],
                       metric_key: Optional[str]) -> None:
    """``block_drop.json`` (``summary`` plus the stage records), the stage table in the log and
    ``block_drop.png`` (skipped, with a log line, when matplotlib is missing)."""
    with open(osp.join(work_dir, 'block_drop.json'), 'w') as f:
        json.dump(dict(summary, stages=list(records)), f, indent=1)
    print_log('BlockDropHook stages:\n' + format_stage_table(records), logger='current')
    try:
        plot_block_drop_stages(records, osp.join(work_dir, 'block_drop.png'),
                               metric_key or 'metric')
    except ImportError:  # matplotlib missing: the JSON and the table are the record
        print_log('BlockDropHook: matplotlib is not installed, no plot', logger='current')
