"""Pipelines registry (see :mod:`app.pipelines.registry`)."""
