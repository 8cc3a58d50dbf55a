"""Reading pre-extracted snippet features (.npy, .pt, .csv), stored (T, C): one row a snippet."""
import os.path as osp

import numpy as np
import torch

from mmtad_ext.utils.errors import UserError

FEATURE_EXTS = ('.npy', '.pt', '.csv')


class FeatureFileError(UserError, ValueError):
    """A feature file cannot be read, is not a non-empty (T, C) array or is not finite."""


def load_feature_file(path: str) -> np.ndarray:
    """Load a (T, C) float32 feature array.

    Raises:
        FileNotFoundError: The file does not exist.
        FeatureFileError: The file cannot be read, is not a non-empty 2D array, or holds NaN or
            infinite values (they would surface later as an obscure loss or RoIAlign error).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'feature file not found: {path}')
    ext = osp.splitext(path)[1]
    try:
        if ext == '.npy':
            feat = np.load(path, allow_pickle=False)
        elif ext == '.pt':
            feat = torch.load(path, map_location='cpu', weights_only=True)
            feat = feat.numpy() if isinstance(feat, torch.Tensor) else np.asarray(feat)
        elif ext == '.csv':
            feat = np.loadtxt(path, delimiter=',', skiprows=_csv_header_rows(path), ndmin=2)
        else:
            raise FeatureFileError(f'unsupported feature extension {ext!r}, use one of '
                                   f'{FEATURE_EXTS}')
    except (ValueError, OSError, RuntimeError, EOFError) as e:
        raise FeatureFileError(f'cannot read feature file {path}: {e}') from e
    if feat.ndim != 2 or feat.shape[0] == 0 or feat.shape[1] == 0:
        raise FeatureFileError(f'feature file {path} must hold a non-empty (T, C) array, '
                               f'got shape {feat.shape}')
    feat = np.ascontiguousarray(feat, dtype=np.float32)
    finite = np.isfinite(feat)
    if not finite.all():
        bad = np.flatnonzero(~finite.all(axis=1))
        raise FeatureFileError(
            f'feature file {path} holds {int((~finite).sum())} non-finite value(s) (NaN or '
            f'Inf), first in snippet {int(bad[0])} of {feat.shape[0]}; re-extract the features '
            'of this video')
    return feat


def _csv_header_rows(path: str) -> int:
    """1 if the first line of a CSV file is a header (not numbers), else 0."""
    with open(path) as f:
        first = f.readline().split(',')
    try:
        [float(x) for x in first]
        return 0
    except ValueError:
        return 1


def num_feature_snippets(path: str) -> int:
    """Number of snippets ``T`` of a feature file (memory-mapped for .npy)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'feature file not found: {path}')
    if path.endswith('.npy'):
        try:
            shape = np.load(path, mmap_mode='r', allow_pickle=False).shape
        except (ValueError, OSError) as e:
            raise FeatureFileError(f'cannot read feature file {path}: {e}') from e
        if len(shape) != 2 or 0 in shape:
            raise FeatureFileError(f'feature file {path} must hold a non-empty (T, C) array, '
                                   f'got shape {shape}')
        return int(shape[0])
    return int(load_feature_file(path).shape[0])
