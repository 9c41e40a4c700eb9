//! Reading function arguments the way Go's text/template hands them to a
//! function with typed parameters, and reporting a bad one without its value.
//!
//! Every error built here names the function and the *kind* of the offending
//! argument (`string`, `float64`, `map[string]interface {}`, ...), never the
//! argument itself: template data carries tokens and passwords.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Display;

use gtmpl_ng::{FuncError, NumberKind, Value};

/// Go's name for the type of a value, as it appears in Go's own messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::NoValue | Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Function(_) => "func",
        Value::Array(_) => "[]interface {}",
        Value::Map(_) | Value::Object(_) => "map[string]interface {}",
        Value::Number(n) => match n.kind() {
            NumberKind::Float(_) => "float64",
            NumberKind::Unsigned(u) if u > i64::MAX as u64 => "uint64",
            NumberKind::Unsigned(_) | NumberKind::Signed(_) => "int",
        },
    }
}

/// An error of function `name`, worded like Go's `error calling NAME: ...`.
pub fn fail(name: &str, reason: impl Display) -> FuncError {
    FuncError::Generic(format!("error calling {name}: {reason}"))
}

/// Refuses a call with other than `want` arguments.
pub fn exactly(name: &str, args: &[Value], want: usize) -> Result<(), FuncError> {
    if args.len() == want {
        Ok(())
    } else {
        Err(FuncError::Generic(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )))
    }
}

/// Refuses a call with fewer than `want` arguments.
pub fn at_least(name: &str, args: &[Value], want: usize) -> Result<(), FuncError> {
    if args.len() >= want {
        Ok(())
    } else {
        Err(FuncError::Generic(format!(
            "wrong number of args for {name}: want at least {want} got {}",
            args.len()
        )))
    }
}

fn wrong_type(name: &str, position: usize, expected: &str, got: &Value) -> FuncError {
    if matches!(got, Value::NoValue) {
        return FuncError::Generic(format!(
            "invalid value for argument {position} of {name}; expected {expected}"
        ));
    }
    FuncError::Generic(format!(
        "wrong type for argument {position} of {name}; expected {expected}; got {}",
        kind(got)
    ))
}

/// Argument `index` as a Go `string` parameter.
pub fn string<'a>(name: &str, args: &'a [Value], index: usize) -> Result<&'a str, FuncError> {
    match args.get(index) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(wrong_type(name, index + 1, "string", other)),
        None => Err(missing(name, index)),
    }
}

/// Argument `index` as a Go `int` parameter: an integer, not a float64.
pub fn int(name: &str, args: &[Value], index: usize) -> Result<i64, FuncError> {
    match args.get(index) {
        Some(value @ Value::Number(n)) => match n.kind() {
            NumberKind::Signed(i) => Ok(i),
            NumberKind::Unsigned(u) => {
                i64::try_from(u).map_err(|_| wrong_type(name, index + 1, "int", value))
            }
            NumberKind::Float(_) => Err(wrong_type(name, index + 1, "int", value)),
        },
        Some(other) => Err(wrong_type(name, index + 1, "int", other)),
        None => Err(missing(name, index)),
    }
}

/// Argument `index` as a Go `bool` parameter.
pub fn boolean(name: &str, args: &[Value], index: usize) -> Result<bool, FuncError> {
    match args.get(index) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(wrong_type(name, index + 1, "bool", other)),
        None => Err(missing(name, index)),
    }
}

/// Argument `index` as a Go `map[string]interface{}` parameter. A missing or
/// nil value is Go's nil map: empty to read.
pub fn map<'a>(
    name: &str,
    args: &'a [Value],
    index: usize,
) -> Result<Cow<'a, HashMap<String, Value>>, FuncError> {
    match args.get(index) {
        Some(Value::Map(m) | Value::Object(m)) => Ok(Cow::Borrowed(m)),
        Some(Value::Nil | Value::NoValue) => Ok(Cow::Owned(HashMap::new())),
        Some(other) => Err(wrong_type(
            name,
            index + 1,
            "map[string]interface {}",
            other,
        )),
        None => Err(missing(name, index)),
    }
}

/// The elements of a list argument, refusing anything else with Sprig's
/// wording (`Cannot find first on type string`).
pub fn list<'a>(name: &str, action: &str, value: &'a Value) -> Result<&'a [Value], FuncError> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Map(_) | Value::Object(_) => Err(fail(name, format!("Cannot {action} on type map"))),
        Value::Nil | Value::NoValue => Err(fail(name, format!("Cannot {action} on a nil value"))),
        other => Err(fail(
            name,
            format!("Cannot {action} on type {}", kind(other)),
        )),
    }
}

fn missing(name: &str, index: usize) -> FuncError {
    FuncError::Generic(format!(
        "wrong number of args for {name}: want at least {} got {index}",
        index + 1
    ))
}

/// A value as Go stores it in an `interface{}`: a missing value is nil.
pub fn stored(value: &Value) -> Value {
    match value {
        Value::NoValue => Value::Nil,
        other => other.clone(),
    }
}

/// Whether a value is nil in Go (a missing map key or JSON `null`).
pub fn is_nil(value: &Value) -> bool {
    matches!(value, Value::Nil | Value::NoValue)
}

/// Sprig's `strval`: strings as they are, everything else through Go's `%v`.
pub fn strval(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => super::strings::go_format("%v", other),
    }
}

/// Sprig's `empty`: nil, false, zero, and empty strings, lists and maps.
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Nil | Value::NoValue => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Map(m) | Value::Object(m) => m.is_empty(),
        Value::Function(_) => false,
        Value::Number(n) => match n.kind() {
            NumberKind::Float(f) => f == 0.0,
            NumberKind::Signed(i) => i == 0,
            NumberKind::Unsigned(u) => u == 0,
        },
    }
}

/// Sprig's integer conversion (through `cast`): numbers truncate, strings are
/// read as Go integer literals (`0x1f`, `010`, with a `.0` tail allowed),
/// booleans are 1 or 0, and anything unreadable is 0.
pub fn to_int64(value: &Value) -> i64 {
    match value {
        Value::Number(n) => match n.kind() {
            NumberKind::Signed(i) => i,
            // Go converts a uint64 to int64 by wrapping.
            NumberKind::Unsigned(u) => u as i64,
            // Go's conversion of an out-of-range float is undefined; Rust's
            // saturates, which is as good as any answer.
            NumberKind::Float(f) => f as i64,
        },
        Value::String(s) => parse_go_int(trim_zero_decimal(s)).unwrap_or(0),
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// Drops a `.000` tail, so `3.0` reads as `3` while `3.5` and `3.` do not.
fn trim_zero_decimal(s: &str) -> &str {
    let mut found_zero = false;
    for (i, b) in s.bytes().enumerate().rev() {
        match b {
            b'.' if found_zero => return &s[..i],
            b'.' => {}
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then a decimal,
/// `0x`, `0o`, `0b` or leading-zero octal literal, with `_` separators only
/// when a base prefix is present.
pub fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest.to_owned(), true)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest.to_owned(), true)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest.to_owned(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_owned(), true)
    } else {
        (10, lower.clone(), false)
    };
    let digits = if prefixed {
        if !underscores_ok(&lower) {
            return None;
        }
        digits.replace('_', "")
    } else {
        digits
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(&digits, radix).ok()?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            Some((magnitude as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's rule for `_` in a prefixed literal: only between digits, or after
/// the base prefix.
fn underscores_ok(literal: &str) -> bool {
    let bytes = literal.as_bytes();
    let mut saw_digit_or_prefix = false;
    let mut previous_underscore = false;
    let start = if bytes.len() > 1 && bytes[0] == b'0' && bytes[1].is_ascii_alphabetic() {
        saw_digit_or_prefix = true;
        2
    } else {
        0
    };
    for &b in &bytes[start..] {
        if b == b'_' {
            if !saw_digit_or_prefix || previous_underscore {
                return false;
            }
            previous_underscore = true;
        } else {
            saw_digit_or_prefix = true;
            previous_underscore = false;
        }
    }
    !previous_underscore
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_integer_literals() {
        assert_eq!(parse_go_int("42"), Some(42));
        assert_eq!(parse_go_int("-42"), Some(-42));
        assert_eq!(parse_go_int("0x1f"), Some(31));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("1_000"), None);
        assert_eq!(parse_go_int("0x_1f"), Some(31));
        assert_eq!(parse_go_int("abc"), None);
        assert_eq!(parse_go_int(""), None);
        assert_eq!(parse_go_int("-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn cast_style_integers() {
        assert_eq!(to_int64(&Value::from("3.0")), 3);
        assert_eq!(to_int64(&Value::from("3.5")), 0);
        assert_eq!(to_int64(&Value::from(true)), 1);
        assert_eq!(to_int64(&Value::Nil), 0);
        assert_eq!(to_int64(&crate::template::value::float64(2.9)), 2);
    }

    #[test]
    fn errors_name_kinds_not_values() {
        let args = [Value::from(1.5f64)];
        let err = string("upper", &args, 0).unwrap_err().to_string();
        assert!(err.contains("float64"), "{err}");
        assert!(!err.contains("1.5"), "{err}");
    }
}
