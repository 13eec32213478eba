//! Checks an Arrow IPC schema (flatbuffer) before arrow-ipc converts it: arrow-ipc panics on
//! unknown types, odd bit widths and units, and nested types without their children.
//!
//! The rules mirror `arrow_ipc::convert::get_data_type`: every case it would `panic!`,
//! `unwrap` or `unimplemented!` on is refused here with an error naming the field.

use crate::error::{Error, Result};
use arrow_ipc::{DateUnit, Endianness, IntervalUnit, Precision, TimeUnit, Type, UnionMode};

/// Refuse a schema that arrow-ipc's conversion would panic on.
pub(super) fn check_schema(schema: arrow_ipc::Schema<'_>) -> Result<()> {
    if schema.endianness() == Endianness::Big {
        return Err(bad("", "big-endian data is not accepted"));
    }
    let fields = schema
        .fields()
        .ok_or_else(|| bad("", "a schema without its field list"))?;
    fields.iter().try_for_each(check_field)
}

fn bad(field: &str, why: &str) -> Error {
    Error::decode(format!("Arrow IPC schema: field {field:?}: {why}"))
}

fn check_int(int: Option<arrow_ipc::Int<'_>>, name: &str) -> Result<()> {
    let int = int.ok_or_else(|| bad(name, "an integer type without its width"))?;
    if matches!(int.bitWidth(), 8 | 16 | 32 | 64) {
        Ok(())
    } else {
        Err(bad(name, &format!("an integer of {} bits", int.bitWidth())))
    }
}

fn check_field(field: arrow_ipc::Field<'_>) -> Result<()> {
    let name = field.name().unwrap_or_default();
    let fail = |why: &str| -> Result<()> { Err(bad(name, why)) };
    if let Some(dictionary) = field.dictionary() {
        check_int(dictionary.indexType(), name)?;
    }
    let children = field.children().map(|c| c.len());
    let one_child = || match children {
        Some(1) => Ok(()),
        _ => fail("a nested type needs exactly one child"),
    };
    let time_unit = |unit: Option<TimeUnit>| match unit {
        Some(
            TimeUnit::SECOND | TimeUnit::MILLISECOND | TimeUnit::MICROSECOND | TimeUnit::NANOSECOND,
        ) => Ok(()),
        _ => fail("a missing or unknown time unit"),
    };
    match field.type_type() {
        Type::Null
        | Type::Bool
        | Type::Binary
        | Type::BinaryView
        | Type::LargeBinary
        | Type::Utf8
        | Type::Utf8View
        | Type::LargeUtf8
        | Type::Struct_ => {}
        Type::Int => check_int(field.type_as_int(), name)?,
        Type::FixedSizeBinary => match field.type_as_fixed_size_binary() {
            Some(t) if t.byteWidth() >= 0 => {}
            _ => return fail("a fixed-size binary without a valid width"),
        },
        Type::FloatingPoint => match field.type_as_floating_point().map(|t| t.precision()) {
            Some(Precision::HALF | Precision::SINGLE | Precision::DOUBLE) => {}
            _ => return fail("a missing or unknown float precision"),
        },
        Type::Date => match field.type_as_date().map(|t| t.unit()) {
            Some(DateUnit::DAY | DateUnit::MILLISECOND) => {}
            _ => return fail("a missing or unknown date unit"),
        },
        Type::Time => match field.type_as_time().map(|t| (t.bitWidth(), t.unit())) {
            Some((32, TimeUnit::SECOND | TimeUnit::MILLISECOND))
            | Some((64, TimeUnit::MICROSECOND | TimeUnit::NANOSECOND)) => {}
            _ => return fail("a missing or unknown time width and unit"),
        },
        Type::Timestamp => time_unit(field.type_as_timestamp().map(|t| t.unit()))?,
        Type::Duration => time_unit(field.type_as_duration().map(|t| t.unit()))?,
        Type::Interval => match field.type_as_interval().map(|t| t.unit()) {
            Some(
                IntervalUnit::YEAR_MONTH | IntervalUnit::DAY_TIME | IntervalUnit::MONTH_DAY_NANO,
            ) => {}
            _ => return fail("a missing or unknown interval unit"),
        },
        Type::List | Type::LargeList | Type::ListView | Type::LargeListView => one_child()?,
        Type::FixedSizeList => {
            one_child()?;
            match field.type_as_fixed_size_list() {
                Some(t) if t.listSize() >= 0 => {}
                _ => return fail("a fixed-size list without a valid size"),
            }
        }
        Type::Map => {
            one_child()?;
            if field.type_as_map().is_none() {
                return fail("a map type without its description");
            }
        }
        Type::RunEndEncoded => {
            if children != Some(2) {
                return fail("run-end encoding needs exactly two children");
            }
        }
        Type::Decimal => match field.type_as_decimal() {
            Some(d)
                if matches!(d.bitWidth(), 32 | 64 | 128 | 256)
                    && u8::try_from(d.precision()).is_ok()
                    && i8::try_from(d.scale()).is_ok() => {}
            _ => return fail("a decimal of unknown width, precision or scale"),
        },
        Type::Union => {
            let union = field
                .type_as_union()
                .ok_or_else(|| bad(name, "a union without its description"))?;
            if !matches!(union.mode(), UnionMode::Sparse | UnionMode::Dense) {
                return fail("an unknown union mode");
            }
            let n = children.unwrap_or(0);
            if n > 127 {
                return fail("a union of more than 127 types");
            }
            if let Some(ids) = union.typeIds() {
                let mut seen = [false; 128];
                let valid = ids.len() == n
                    && ids.iter().all(|id| {
                        usize::try_from(id)
                            .ok()
                            .filter(|&i| i < 128)
                            .is_some_and(|i| !std::mem::replace(&mut seen[i], true))
                    });
                if !valid {
                    return fail("union type ids that do not match its children");
                }
            }
        }
        _ => return fail("an unknown type"),
    }
    field.children().iter().flatten().try_for_each(check_field)
}
