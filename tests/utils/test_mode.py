import pytest
from torch import nn

from mmtad_ext.utils.mode import eval_mode


@pytest.mark.parametrize('training', [True, False])
def test_eval_mode_restores_the_previous_mode_even_on_error(training):
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout()).train(training)
    with pytest.raises(RuntimeError):
        with eval_mode(model):
            assert not any(m.training for m in model.modules())
            raise RuntimeError
    assert all(m.training == training for m in model.modules())
