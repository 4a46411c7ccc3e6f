"""Pipelines: YAML studies of stages that ``python -m tfgenre.run`` executes in order.

* :mod:`~tfgenre.pipelines.stages`: the stage registry, steps and the runner.
"""
