"""Helpers shared by the test suite; one implementation of each.

``tests/`` is on ``sys.path`` because pytest imports ``tests/conftest.py`` in its default
``prepend`` import mode (the folder has no ``__init__.py``), so a test imports these as
``from helpers.registry import write_evidence``, the way it imports ``teamserver``.

* ``helpers.cli``: run the ``mlflow-retrain`` CLI in-process.
* ``helpers.churn``: a synthetic churn data set and models of known quality, registered.
* ``helpers.drift``: ``FeatureDrift`` results with every field filled in.
* ``helpers.evidence``: a comparison's ``Evidence``, and the evidence tags the gate reads.
* ``helpers.examples``: the example projects' data generators, loaded by path.
* ``helpers.pipeline``: the pipeline's inputs (a credit table, a ``retrain.yaml``) and a cycle.
* ``helpers.registry``: write and read a registry's versions, evidence, aliases and audit.
* ``helpers.servers``: free ports, server processes, ``mlflow server`` and PostgreSQL databases.
* ``helpers.tables``: table bytes in the formats the loaders read.

Fixtures stay in the ``conftest.py`` files; they call these.
"""
