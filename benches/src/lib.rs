//! Shared helpers for the benchmarks: timing, medians and printed comparisons.
