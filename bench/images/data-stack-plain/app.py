"""The image's job: summarise a parquet file given on the command line (or a generated frame)."""

import sys

import numpy as np
import pandas as pd


def main(argv: list[str]) -> int:
    frame = pd.read_parquet(argv[0]) if argv else pd.DataFrame({"x": np.arange(10), "y": np.arange(10) ** 2})
    print(frame.describe().to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
