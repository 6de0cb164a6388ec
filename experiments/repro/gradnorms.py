"""Card (a), Arjovsky et al. 2016: print ours beside their ||dC/dh_t|| figure and draw it.

    MLFLOW_TRACKING_URI=... .venv/bin/python experiments/repro/gradnorms.py arjovsky2016_gradnorms \
        --figure docs/repro/arjovsky2016_gradnorms.png

The work is done by ``rnnstudy.repro.gradnorms`` (it reads MLflow through ``rnnstudy.tracking``,
the one module that imports mlflow).
"""

from rnnstudy.repro.gradnorms import main

if __name__ == "__main__":
    main()
