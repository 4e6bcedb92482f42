"""Result files: the ArviZ conversion (ArviZ 0.x and 1.x) and netCDF reading and writing."""

from __future__ import annotations

from bayes_hcl.results.io.posterior import (
    RESULT_FORMAT,
    build_inference_data,
    read_result_file,
    write_result_file,
)

__all__ = [
    "RESULT_FORMAT",
    "build_inference_data",
    "read_result_file",
    "write_result_file",
]
