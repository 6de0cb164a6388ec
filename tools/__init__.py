"""Developer tooling that is not part of the ``rnnstudy`` product (never installed with it):
the headless browser used by the report tests and for the MLflow UI screenshots in ``docs/``."""
