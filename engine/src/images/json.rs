//! How entries look in `crust show`: the shapes crit prints where that is cheap
//! to match (addresses as `0x…` strings, enums by name, bytes as hex).

use serde::{Serialize, Serializer};
use std::fmt::LowerHex;

/// An integer shown as a `0x…` string, as crit does for fields marked `hex`.
pub(crate) fn hex<T: LowerHex, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{value:#x}"))
}

/// An optional integer shown as a `0x…` string when present.
pub(crate) fn hex_opt<T: LowerHex, S: Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => hex(v, s),
        None => s.serialize_none(),
    }
}

/// A byte string shown as lowercase hex digits.
pub(crate) fn hex_bytes<S: Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let mut out = String::with_capacity(value.len().saturating_mul(2));
    for byte in value {
        out.push_str(&format!("{byte:02x}"));
    }
    s.serialize_str(&out)
}

/// A byte string shown as text, bytes that are not UTF-8 replaced (socket
/// names: paths, or abstract names starting with a NUL byte).
pub(crate) fn lossy_text<S: Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(value))
}

/// An optional byte string shown as hex digits when present.
pub(crate) fn hex_opt_bytes<S: Serializer>(
    value: &Option<Vec<u8>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => hex_bytes(v, s),
        None => s.serialize_none(),
    }
}

/// A protobuf enum field shown by its CRIU name; a value with no name stays a number.
pub(crate) fn enum_name<E, S>(value: &i32, s: S) -> Result<S::Ok, S::Error>
where
    E: TryFrom<i32> + Serialize,
    S: Serializer,
{
    match E::try_from(*value) {
        Ok(named) => named.serialize(s),
        Err(_) => s.serialize_i32(*value),
    }
}

/// An optional protobuf enum field shown by its CRIU name when present.
pub(crate) fn enum_name_opt<E, S>(value: &Option<i32>, s: S) -> Result<S::Ok, S::Error>
where
    E: TryFrom<i32> + Serialize,
    S: Serializer,
{
    match value {
        Some(v) => enum_name::<E, S>(v, s),
        None => s.serialize_none(),
    }
}

/// Removes `null` members from every object, so unset optional fields are left
/// out as crit leaves them out.
pub(crate) fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_are_dropped_at_every_depth() {
        let mut v = serde_json::json!({"a": null, "b": [{"c": null, "d": 1}]});
        drop_nulls(&mut v);
        assert_eq!(v, serde_json::json!({"b": [{"d": 1}]}));
    }
}
