"""Plots (matplotlib, imported lazily): timelines, block-drop stages, A3D budget tables, curves."""
from .plots import plot_block_drop_stages, plot_budget_table, plot_curves, plot_timeline

__all__ = ['plot_block_drop_stages', 'plot_budget_table', 'plot_curves', 'plot_timeline']
