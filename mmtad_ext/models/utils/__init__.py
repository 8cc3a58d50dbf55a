"""Model utilities (not registered): A3D sub-networks and input resampling, BN calibration."""
from .bn_calibration import bn_layers, calibrate_bn, load_bn_stats, snapshot_bn_stats
from .subnet import (SubNet, SubNetWarning, check_factor, check_subnet, resample_clip,
                     resampled_size, subnet_grid, subnet_key, temporal_indices)

__all__ = [
    'bn_layers', 'calibrate_bn', 'check_factor', 'check_subnet', 'load_bn_stats',
    'snapshot_bn_stats', 'SubNet', 'SubNetWarning', 'subnet_grid', 'subnet_key', 'resample_clip',
    'resampled_size', 'temporal_indices'
]
