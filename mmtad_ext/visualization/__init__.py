"""Plots (matplotlib, imported lazily): timelines, block-drop stages, A3D budget tables, curves."""
from .plots import (TIMELINE_SCORE_THR, TIMELINE_TOPK_PER_CLASS, assign_lanes,
                    plot_block_drop_stages, plot_budget_table, plot_curves, plot_timeline,
                    timeline_detections, timeline_figure)

__all__ = [
    'TIMELINE_SCORE_THR', 'TIMELINE_TOPK_PER_CLASS', 'assign_lanes', 'plot_block_drop_stages',
    'plot_budget_table', 'plot_curves', 'plot_timeline', 'timeline_detections', 'timeline_figure'
]
