"""harden: slim, shell-free, non-root Python container images, verified to import what they did."""

__version__ = "0.1.0"
