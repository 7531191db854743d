"""The domains shipped with Sluice: ``water`` (simulated, the default) and ``flights`` (real).

A domain of your own does not go here: keep it in your own repository, put it on ``PYTHONPATH``
and set ``SLUICE_DOMAIN`` to its module path (see :mod:`sluice.domain`).
"""
