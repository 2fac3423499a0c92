"""The image benchmark: original vs hardened vs the naive recipe, harden's time vs the I/O floor, peak RSS,
verification and startup time, and how harden's time grows with image size. Entry point: bench/image_bench.py."""
