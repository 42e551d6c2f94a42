"""Make geoopt's TorchScript functions give the same bits in every process.

geoopt implements its Poincare-ball math as TorchScript functions. With the
profiling graph executor's optimisations on, a process's first backward
passes run unoptimised graphs and later ones fused graphs, whose results
differ in the last bits. A run resumed from a checkpoint (a fresh process)
would then drift from the uninterrupted run by rounding, and its next
prototype projection could pick other patches. Switching the optimisation
off makes every pass run the same graph; geoopt's functions are small, so
the cost is negligible next to the 3D backbone.
"""
import torch


def install() -> None:
    """Turn off TorchScript graph-executor optimisation for this process."""
    if not hasattr(torch._C, '_set_graph_executor_optimize'):
        raise RuntimeError(
            'torch._C._set_graph_executor_optimize is missing from torch '
            f'{torch.__version__}; check hprotopnet_mm/compat/'
            'torchscript_determinism.py against this PyTorch release')
    torch._C._set_graph_executor_optimize(False)
