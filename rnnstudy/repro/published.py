"""Published curves the reproduction cards put ours beside, read from the papers' figures.

Every number here was read from a figure (pixel positions of the curve's colour in the figure
file, converted with the figure's axis ticks, then checked by eye against the image); none is
printed in the papers. Sources: the paper's figure files in amarshah/complex_RNN at commit
974fc3e, ``paper/uRNN/figures/`` (``git show 974fc3e:paper/uRNN/figures/grads_0.jpeg``).
"""

from __future__ import annotations

# Arjovsky, Shah & Bengio 2016, figure "Norms of the gradients with respect to hidden states"
# (grads_0.jpeg: "Beginning of training"; grads_100.jpeg: "After 100 iterations"); adding
# problem, time axis 0..1000, y axis 10^-24..10^1 (log). log10 ||dC/dh_t|| at time t; a curve
# that has left the plot below 10^-24 has no entry. Read to about +-0.3 decades.
ARJOVSKY_GRADS: dict[str, dict[str, dict[int, float]]] = {
    "init": {
        "rnn": {
            0: -14.0,
            100: -12.9,
            200: -11.5,
            300: -10.2,
            400: -9.0,
            500: -7.8,
            600: -6.4,
            700: -5.0,
            800: -3.8,
            900: -2.5,
            950: -1.7,
            1000: -0.4,
        },
        "lstm": {
            455: -22.9,
            500: -20.7,
            565: -18.3,
            600: -16.8,
            700: -13.1,
            800: -9.3,
            900: -5.4,
            950: -3.5,
            1000: -1.2,
        },
    },
    "100": {
        "rnn": {710: -22.6, 800: -16.0, 900: -9.3, 950: -5.9, 1000: -1.1},
        "lstm": {565: -23.0, 600: -20.9, 700: -16.3, 800: -11.4, 900: -6.8, 950: -4.4, 1000: -2.0},
    },
}
# where each curve leaves the plot (log10 = -24) reading back from t = 1000; None: never
ARJOVSKY_GRADS_EXIT = {"init": {"rnn": None, "lstm": 455}, "100": {"rnn": 705, "lstm": 565}}

# Arjovsky et al. 2016, copying-memory figure (memory_100.jpeg, memory_200.jpeg): the LSTM's
# cross entropy (their test loss, memory_problem.py:122-130, every 50 iterations) against
# training examples, the running level of the green curve with its spikes ignored (+-0.002).
ARJOVSKY_COPY_LSTM: dict[int, dict[int, float]] = {
    100: {
        50_000: 0.178,
        100_000: 0.175,
        150_000: 0.175,
        200_000: 0.173,
        250_000: 0.168,
        300_000: 0.167,
        400_000: 0.163,
        500_000: 0.160,
        600_000: 0.157,
        700_000: 0.154,
        800_000: 0.151,
        900_000: 0.147,
        1_000_000: 0.1455,
    },
    200: {
        100_000: 0.096,
        150_000: 0.094,
        200_000: 0.093,
        250_000: 0.092,
        300_000: 0.091,
        340_000: 0.090,
        360_000: 0.0945,
        400_000: 0.0945,
        500_000: 0.0945,
        600_000: 0.0945,
        700_000: 0.0945,
        800_000: 0.0945,
        1_000_000: 0.0945,
    },
}
