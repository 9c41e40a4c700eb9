//! Sprig's default and emptiness functions: `default`, `empty`, `coalesce`,
//! `ternary`.

use gtmpl_ng::{Func, FuncError, Value};

use super::args;

/// The functions of this module, by template name.
pub const FUNCTIONS: &[(&str, Func)] = &[
    ("default", default as Func),
    ("empty", empty as Func),
    ("coalesce", coalesce as Func),
    ("ternary", ternary as Func),
];

/// `default DEFAULT GIVEN`: GIVEN unless it is empty (nil, false, 0, "",
/// empty list or map), then DEFAULT. Usually piped: `.x | default "y"`.
fn default(values: &[Value]) -> Result<Value, FuncError> {
    args::at_least("default", values, 1)?;
    match values.get(1) {
        Some(given) if !args::is_empty(given) => Ok(given.clone()),
        _ => Ok(args::stored(&values[0])),
    }
}

/// `empty X`: whether X is empty in Sprig's sense.
fn empty(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("empty", values, 1)?;
    Ok(Value::Bool(args::is_empty(&values[0])))
}

/// `coalesce A B ...`: the first non-empty argument, else nil.
fn coalesce(values: &[Value]) -> Result<Value, FuncError> {
    Ok(values
        .iter()
        .find(|v| !args::is_empty(v))
        .cloned()
        .unwrap_or(Value::Nil))
}

/// `ternary IF_TRUE IF_FALSE CONDITION`: CONDITION must be a boolean.
fn ternary(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("ternary", values, 3)?;
    let pick = if args::boolean("ternary", values, 2)? {
        &values[0]
    } else {
        &values[1]
    };
    Ok(args::stored(pick))
}
