"""compile/transforms/streamline_joins.py: a residual block's fork and join streamlined to integers, computing
the same."""
from __future__ import annotations

import numpy as np
from compile_support import run_graph, step_graph

from compile.transforms.streamline_joins import StreamlineForksAndJoins, float_between_layers
from compile.transforms.transposes import NHWCCleanup


def test_forks_and_joins_are_streamlined_to_integers_computing_the_same(tiny_dsres_build):
    """tiny_dsres's residual block: FINN's Streamline alone leaves float scales at the fork and the join."""
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.streamline import Streamline
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul

    model = step_graph(tiny_dsres_build, "pre_streamline_1d")
    for tr in (absorb.AbsorbScalarBiasIntoMultiThreshold(), Streamline(), LowerConvsToMatMul(), NHWCCleanup(),
               Streamline()):
        model = model.transform(tr)
    assert float_between_layers(model)
    joined = model.transform(StreamlineForksAndJoins())
    assert not float_between_layers(joined)
    x = np.random.default_rng(1).integers(-128, 128, model.get_tensor_shape(model.graph.input[0].name))
    np.testing.assert_allclose(run_graph(joined, x.astype(np.float32)), run_graph(model, x.astype(np.float32)),
                               rtol=1e-4, atol=1e-4)
