//! Conversion of JSON data into the engine's values, with the shapes Go's
//! `encoding/json` gives when it decodes into `map[string]any`.
//!
//! - An object becomes a map, never a struct: a missing key is Go's "no value"
//!   (falsy, prints `<no value>`) instead of an error.
//! - `null` becomes nil.
//! - Every number becomes a float64, as in Go. A float64 prints the way Go's
//!   `%v` prints it (`3`, `2.5`, `1e+06`), refuses `%d`, and cannot index a
//!   list or be ranged over, exactly as in Go. Zero is the one exception: it is
//!   kept as the integer 0 because the engine's truth test treats every float
//!   as true; `0` prints the same either way.

use std::collections::HashMap;

use gtmpl_ng::{Number, Value};

/// Converts JSON data into an engine value.
pub fn from_json(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => float64(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        serde_json::Value::Object(entries) => Value::Map(
            entries
                .iter()
                .map(|(key, value)| (key.clone(), from_json(value)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// A number the way Go holds a JSON number: a float64 (zero excepted, see the
/// module documentation).
pub fn float64(f: f64) -> Value {
    if f == 0.0 {
        Value::Number(Number::from(0u64))
    } else {
        Value::Number(Number::float(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_become_maps_and_numbers_floats() {
        let value = from_json(&json!({"a": {"b": [1, 2.5, "x", null, true]}}));
        let Value::Map(top) = value else {
            panic!("expected a map")
        };
        let Some(Value::Map(inner)) = top.get("a") else {
            panic!("expected a nested map")
        };
        let Some(Value::Array(items)) = inner.get("b") else {
            panic!("expected a list")
        };
        assert_eq!(items[0], Value::Number(Number::float(1.0)));
        assert_eq!(items[0].to_string(), "1");
        assert_eq!(items[1].to_string(), "2.5");
        assert_eq!(items[2], Value::from("x"));
        assert_eq!(items[3], Value::Nil);
        assert_eq!(items[4], Value::Bool(true));
    }

    #[test]
    fn large_whole_numbers_print_like_go_float64() {
        assert_eq!(float64(1_000_000.0).to_string(), "1e+06");
        assert_eq!(float64(123_456.0).to_string(), "123456");
        assert_eq!(float64(0.0).to_string(), "0");
    }
}
