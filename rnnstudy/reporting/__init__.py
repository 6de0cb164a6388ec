"""HTML/PDF reports built from the MLflow store only (never imports torch or training code).

    rnnstudy report tour                      # -> reports/tour/index.html, reports/tour/report.pdf
    rnnstudy report experiments/tour.yaml     # the file's `name:` (what `make experiment` runs)

One idea per module, data flowing down the list:

    store.py      the experiment, its parent run and children (MlflowClient), parent CSVs, npz
    history.py    metric histories of all children in bulk (one SQL query on a database store)
    data.py       configuration labels (seeds pooled) + the histories: ``ReportData``
    facts.py      a run's task facts (chance, memoryless loss, distances) via its task config
    figures/      one module per figure: ``build(data) -> Figure | None`` with its caption
    tables.py     per-configuration and per-run tables, the parent's summary CSVs
    header.py     experiment, date, git commit, machine, the command that reproduces it
    html.py       the self-contained page;  pdf.py  the PDF (matplotlib PdfPages)
    build.py      ties them together: ``build_report(name, out)``;  cli.py  ``rnnstudy report``
"""
