"""`merge` with pandas' column rules: keys of the same name appear once (coalesced for
outer joins), other shared names get suffixes; the join itself is DataFusion's."""

from tessera import _core
from tessera.dataframe import _types

HOWS = ("inner", "left", "right", "outer", "leftsemi", "leftanti")
_ALIASES = {"left_semi": "leftsemi", "left_anti": "leftanti", "full": "outer"}


def _keys(value):
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def merge(left, right, how="inner", on=None, left_on=None, right_on=None,
          left_index=False, right_index=False, suffixes=("_x", "_y"), indicator=False,
          **kwargs):
    """Join two tessera DataFrames on key columns, like `pandas.merge` (row order is not
    kept; null keys never match, as in SQL)."""
    from tessera.dataframe._frame import DataFrame

    if kwargs:
        raise TypeError(f"merge() got unexpected keyword arguments {sorted(kwargs)}")
    if not isinstance(right, DataFrame):
        raise TypeError(f"can only merge with a tessera DataFrame, not {type(right).__name__}")
    if left_index or right_index:
        raise ValueError("tessera DataFrames have no index: merge on columns")
    if indicator:
        raise ValueError("indicator=True is not supported")
    how = _ALIASES.get(how, how)
    if how not in HOWS:
        raise ValueError(f"how must be one of {HOWS}, not {how!r}")
    on, left_on, right_on = _keys(on), _keys(left_on), _keys(right_on)
    if on is not None and (left_on is not None or right_on is not None):
        raise ValueError('pass "on" or "left_on" and "right_on", not both')
    if on is None and left_on is None and right_on is None:
        on = [c for c in left._names if c in right._names]
        if not on:
            raise ValueError("no common columns to merge on: pass on= or left_on=/right_on=")
    if on is not None:
        left_on, right_on = on, on
    if left_on is None or right_on is None or len(left_on) != len(right_on):
        raise ValueError("left_on and right_on must name the same number of columns")
    for frame, keys, side in ((left, left_on, "left"), (right, right_on, "right")):
        missing = [k for k in keys if k not in frame._names]
        if missing:
            raise KeyError(f"{missing} not in the {side} DataFrame's columns {frame._names}")
    for lk, rk in zip(left_on, right_on):
        lt, rt = left._type_of(lk), right._type_of(rk)
        numeric = _types.is_numeric(lt) and _types.is_numeric(rt)
        if not numeric and _types.kind(lt) != _types.kind(rt):
            raise TypeError(
                f"cannot merge on {lk!r} ({_types.pandas_dtype(lt)}) and {rk!r} "
                f"({_types.pandas_dtype(rt)}): the key types differ"
            )
    if how in ("leftsemi", "leftanti"):
        return _semi(left, right, how, left_on, right_on)
    return _join(left, right, how, left_on, right_on, suffixes)


def _temp(i):
    return f"__tessera_right_key_{i}"


def _semi(left, right, how, left_on, right_on):
    from tessera.dataframe._frame import DataFrame

    r = right._core.select([_core.col(k).alias(_temp(i)) for i, k in enumerate(right_on)])
    joined = left._core.join(r, how, list(left_on), [_temp(i) for i in range(len(right_on))])
    return DataFrame(joined)


def _join(left, right, how, left_on, right_on, suffixes):
    from tessera.dataframe._frame import DataFrame

    sx, sy = suffixes
    shared = {lk for lk, rk in zip(left_on, right_on) if lk == rk}
    overlap = (set(left._names) & set(right._names)) - shared
    left_names = {c: (c + sx if c in overlap else c) for c in left._names}
    right_names = {c: (c + sy if c in overlap else c) for c in right._names}
    for i, (lk, rk) in enumerate(zip(left_on, right_on)):
        if lk == rk:
            right_names[rk] = _temp(i)
    lcore = left._core
    if overlap:
        lcore = lcore.select([_core.col(c).alias(left_names[c]) for c in left._names])
    rcore = right._core.select([_core.col(c).alias(right_names[c]) for c in right._names])
    joined = lcore.join(
        rcore, how, [left_names[k] for k in left_on], [right_names[k] for k in right_on]
    )
    out = []
    for c in left._names:
        name = left_names[c]
        if c in shared:
            other = _core.col(right_names[c])
            if how == "right":
                out.append(other.alias(c))
            elif how == "outer":
                out.append(_core.col(name).fill_null(other).alias(c))
            else:
                out.append(_core.col(name))
        else:
            out.append(_core.col(name))
    out.extend(_core.col(right_names[c]) for c in right._names if c not in shared)
    return DataFrame(joined.select(out))


def concat(dfs, axis=0, join="outer", ignore_index=False, interleave_partitions=False,
           **kwargs):
    """Stack the rows of tessera DataFrames, like `dask.dataframe.concat` along rows: the
    columns are those of every frame (`join="outer"`, missing values where a frame lacks
    one) or those they share (`join="inner"`), in first-seen order. Row order is not kept.
    """
    import pyarrow as pa

    from tessera.dataframe._frame import DataFrame

    if kwargs:
        raise TypeError(f"concat() got unexpected keyword arguments {sorted(kwargs)}")
    if axis not in (0, "index", "rows"):
        raise NotImplementedError(
            "tessera DataFrames have no index to align on: concat stacks rows (axis=0)")
    if join not in ("outer", "inner"):
        raise ValueError("join must be 'outer' or 'inner'")
    frames = list(dfs)
    if not frames:
        raise ValueError("No objects to concatenate")
    for f in frames:
        if not isinstance(f, DataFrame):
            raise TypeError(f"can only concatenate tessera DataFrames, not {type(f).__name__}")
    if len(frames) == 1:
        return frames[0]
    names = []
    for f in frames:
        names.extend(c for c in f._names if c not in names)
    if join == "inner":
        names = [c for c in names if all(c in f._names for f in frames)]
    types = {}
    for c in names:
        present = [f._type_of(c) for f in frames if c in f._names]
        distinct = list(dict.fromkeys(present))
        if len(distinct) == 1:
            types[c] = distinct[0]
        elif all(_types.kind(t) in ("int", "float") for t in distinct):
            types[c] = pa.float64() if any(_types.kind(t) == "float" for t in distinct) \
                else pa.int64()
        elif all(_types.kind(t) == "str" for t in distinct):
            types[c] = pa.large_string() if any(pa.types.is_large_string(t) for t in distinct) \
                else pa.string()
        else:
            raise TypeError(
                f"cannot concatenate column {c!r} of types "
                f"{[str(_types.pandas_dtype(t)) for t in distinct]}")
    out = None
    for f in frames:
        exprs = []
        for c in names:
            if c in f._names:
                e = _core.col(c)
                if f._type_of(c) != types[c]:
                    e = e.cast(types[c])
            else:
                e, _ = _types.literal(None)
                e = e.cast(types[c])
            exprs.append(e.alias(c))
        core = f._core.select(exprs)
        out = core if out is None else out.union(core)
    return DataFrame(out)
