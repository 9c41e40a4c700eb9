//! Sprig's conversions: `toString`, `int`, `atoi`.

use gtmpl_ng::{Func, FuncError, Value};

use super::args;

/// The functions of this module, by template name.
pub const FUNCTIONS: &[(&str, Func)] = &[
    ("toString", to_string as Func),
    ("int", int as Func),
    ("atoi", atoi as Func),
];

/// `toString X`: strings unchanged, anything else formatted with Go's `%v`.
fn to_string(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("toString", values, 1)?;
    Ok(Value::String(args::strval(&values[0])))
}

/// `int X`: X as an integer (floats truncate, strings are read as Go integer
/// literals, unreadable input is 0).
fn int(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("int", values, 1)?;
    Ok(Value::from(args::to_int64(&values[0])))
}

/// `atoi S`: S read as a decimal integer, 0 when it is not one.
fn atoi(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("atoi", values, 1)?;
    let s = args::string("atoi", values, 0)?;
    Ok(Value::from(s.parse::<i64>().unwrap_or(0)))
}
