"""The dtypes a tessera array holds (bool, int32, int64, float32, float64) and the
conversion of NumPy dtype specifications to them, refusing the others with a TypeError."""

import numpy as np

SUPPORTED = ("bool", "int32", "int64", "float32", "float64")


def dtype_name(dtype):
    """NumPy's name of a supported dtype given as anything `np.dtype` accepts."""
    try:
        name = np.dtype(dtype).name
    except TypeError as e:
        raise TypeError(f"not a dtype: {dtype!r}") from e
    if name not in SUPPORTED:
        raise TypeError(
            f"dtype {name} is not supported; tessera arrays hold " + ", ".join(SUPPORTED)
        )
    return name
