"""Arrow types seen the way pandas users see them: kinds for operator rules, pandas
dtypes for `dtypes`, literals for expressions and `astype` targets."""

import functools

import numpy as np
import pandas as pd
import pyarrow as pa

from tessera import _core


def kind(t):
    """`bool`, `int`, `float`, `str`, `time`, `null` or `other` for an Arrow type."""
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "str"
    if pa.types.is_temporal(t):
        return "time"
    if pa.types.is_null(t):
        return "null"
    return "other"


def is_numeric(t):
    """Whether values of type `t` take part in arithmetic (bools count as 0 and 1)."""
    return kind(t) in ("bool", "int", "float", "null")


@functools.lru_cache(maxsize=256)
def pandas_dtype(t):
    """The dtype pandas gives a column of Arrow type `t` (as `to_pandas` converts it)."""
    empty = pa.schema([pa.field("x", t)]).empty_table().to_pandas()
    return empty.dtypes["x"]


def literal(value):
    """A Python, NumPy or pandas scalar as (expression, Arrow type)."""
    if value is None or value is pd.NA:
        array = pa.nulls(1)
    else:
        try:
            array = pa.array([value])
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as e:
            raise TypeError(f"cannot use {value!r} in a column expression: {e}") from None
    return _core.lit_array(array), array.type


def arrow_type(dtype):
    """The Arrow type for an `astype` target: NumPy/pandas dtypes and their names,
    `str`/`"string"`/`object` for strings, or a pyarrow DataType."""
    if isinstance(dtype, pa.DataType):
        return dtype
    if dtype in (str, "str", "string", "object", object) or str(dtype) in ("str", "string"):
        return pa.string()
    if dtype in (bool, "bool", "boolean"):
        return pa.bool_()
    if str(dtype) == "category":
        raise TypeError("categorical columns are not supported")
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"data type {dtype!r} not understood") from None
    try:
        return pa.from_numpy_dtype(np_dtype)
    except (pa.ArrowNotImplementedError, NotImplementedError):
        raise TypeError(f"data type {dtype!r} is not supported") from None


def schema_dtypes(schema):
    """A pandas Series of the pandas dtypes of a pyarrow schema's fields."""
    return pd.Series(
        [pandas_dtype(f.type) for f in schema], index=[f.name for f in schema], dtype=object
    )
