"""`compile_blocks` compiles every block in place, and `eager_stance` runs them eager
(the sampling after a compiled `train base`), counted by a graph-counting backend."""

from __future__ import annotations

import torch

from picochat.model.compile import compile_blocks, eager_stance
from tiny_models import tiny_model


def test_blocks_share_one_graph_and_run_eager_inside_the_eager_stance():
    torch.compiler.reset()
    graphs: list[torch.fx.GraphModule] = []

    def counting(graph: torch.fx.GraphModule, example_inputs):
        graphs.append(graph)
        return graph.forward  # run the captured graph as it is

    model = compile_blocks(tiny_model(40, n_layer=3, context_size=16).eval(), backend=counting)
    idx = torch.randint(0, 40, (2, 16))
    with torch.no_grad():
        with eager_stance():
            eager = model(idx)[0]
        assert graphs == []  # nothing compiled inside the stance
        compiled = model(idx)[0]
    assert len(graphs) == 1  # three blocks, one graph (v_first is None for each)
    torch.testing.assert_close(compiled, eager)
    torch.compiler.reset()
