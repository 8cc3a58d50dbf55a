"""A3D helpers (not registered): configurations, BN calibration, configuration-budget table."""
from .bn_calibration import bn_layers, calibrate_bn, load_bn_stats, snapshot_bn_stats
from .budget import (count_gflops, evaluate_configs, measure_latency_ms, pareto_front,
                     plot_table, select_row)
from .configs import (config_grid, config_key, resample_clip, resampled_size,
                      temporal_indices)

__all__ = [
    'bn_layers', 'calibrate_bn', 'load_bn_stats', 'snapshot_bn_stats', 'count_gflops',
    'pareto_front', 'select_row', 'evaluate_configs', 'measure_latency_ms', 'plot_table',
    'config_grid', 'config_key', 'resample_clip',
    'resampled_size', 'temporal_indices'
]
