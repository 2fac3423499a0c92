"""The image's job: summarise a parquet file given on the command line (or a generated frame) and plot it."""

import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def main(argv: list[str]) -> int:
    frame = pd.read_parquet(argv[0]) if argv else pd.DataFrame({"x": np.arange(10), "y": np.arange(10) ** 2})
    print(frame.describe().to_string())
    if len(argv) > 1:
        frame.plot(x=frame.columns[0], y=frame.columns[-1]).figure.savefig(argv[1])
        plt.close("all")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
