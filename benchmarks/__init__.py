"""Training throughput and instrument overhead of rnnstudy against a plain PyTorch loop.

Issues 7, 3 (item 6), 11 ("Cost") and 16. Commands::

    make bench                                    # the full benchmark (~15 min on 2 CPU
                                                  # cores): rewrites the table section of
                                                  # BENCHMARKS.md and benchmarks/latest.json
    .venv/bin/python -m benchmarks                # the same
    make bench ARGS="--threads 2"                 # both cores for torch in every mode
    .venv/bin/python -m benchmarks --quick --json /tmp/q.json --markdown /tmp/q.md
                                                  # smoke run: tiny sizes, seconds (tests/test_bench.py)
    .venv/bin/python -m benchmarks --cells lstm --lengths 1000 --tour-cells --e2e-steps 0 --no-write
                                                  # one row, printed only
    .venv/bin/python -m benchmarks.report_store   # `rnnstudy report` over 100 runs (issue 6)

The modules: ``common`` (settings, run configs, batches), ``clocks`` (wall and CPU clocks, the
step clock, the metric counter, the logger's write cost, the GEMM peak), ``reference`` ((a), the
plain loop), ``modes`` ((b), (c), (d) and one grid row), ``probe_cost`` (one probe's parts),
``memory`` (peak memory in a subprocess), ``tour`` (tour-size rows, end to end through
``tour_overhead``), ``targets`` and ``report`` (the markdown section and JSON).

Main grid: for every cell (rnn, lstm, gru) and sequence length T (100, 1000), hidden 128,
batch 64, on the same data (the ``delayed_recall`` generator, one-hot input, D = T/2) and the
same initial weights, in one process:

(a) plain    a hand-written PyTorch loop: fused ``nn.RNN/LSTM/GRU`` + ``nn.Linear`` head,
             masked cross-entropy, Adam, ``clip_grad_norm_``; no Lightning, no logging.
(b) rnnstudy ``runner.run_one``: Lightning, the real ``BufferedMLflowLogger`` writing to a
             temporary SQLite MLflow store, the default instruments (GradNorms every step; the
             default probe, i.e. gradient norms + propagation profile + Lyapunov exponents, and
             Spectrum on the default probe schedule: every 100 steps and at the log-spaced early
             steps 1, 2, 4, ...). Validation only once, after the timed steps.
(c) off      the same Lightning module, Trainer and logger with no instruments at all.
(d) probe    one probe step alone (training step with ``capture`` on + GradTime's computation)
             against one plain step of the same module, alternated: the gradient part alone
             (``GradTime(every, early)``) and the full default probe.

Every mode runs with the same number of torch threads (``--threads``; default rnnstudy's own
``train.threads``, 1). A step's time is the interval between the ends of consecutive training
steps (so it includes fetching the batch and every hook), on two clocks: wall-clock, and this
process's CPU time (user + system, all threads), which other jobs on a shared machine do not
inflate; with one thread it is what the step costs on an idle core, and the targets are judged
on it. The first ``--warmup`` steps of each fit are dropped; the figure is the median over the
timed steps of all rounds (the modes alternate a, c, b / b, c, a in each round so that a change
in machine load hits all of them alike). On a GPU, wall-clock intervals come from CUDA events
and the fused layers run on cuDNN.

(b)'s throughput is the *amortised* rate of a default-length run (1000 steps, 17 of them probe
steps): median non-probe step and median probe step of (b), weighted by the schedule, plus the
logger's batched SQLite writes (``flush``, which a short timed fit rarely reaches): the metrics
(b) logs per step times the cost per metric of a 1000-metric flush measured in the same run.

At the longest T, the parts of one probe (gradient norms, propagation profile, Lyapunov
exponents, all three) are timed against a plain step (``probe_cost``).

Memory (``memory``): for each (cell, T) asked for, a fresh subprocess runs (a) 2 steps, (c)
2 steps, (b) 3 steps (all probe steps), in the order a c b, b c a, a c b; the figure is the peak
increase of resident memory, median of the three.

GFLOP/s: the recurrent matrix products of one training step, 3 x T x 2·B·G·H·(H + I) (forward
W_hh and input projection; backward twice that), divided by (a)'s step time, against a 2048 x 2048
``torch.mm`` and against the recurrent GEMM shape (B x H)·(H x G·H) measured in the same run.

Tour size (``tour``): the points of ``experiments/tour.yaml`` (seed 0), steady state (a), (b),
(c) in one process; and end to end, fresh ``rnnstudy run`` against a fresh plain script.
"""
