//! Sprig's integer arithmetic: `add`, `sub`, `mul`, `div`, `mod`, `max`,
//! `min`. Arguments are converted as by `int`; results are 64-bit integers
//! that wrap on overflow, as in Go.

use gtmpl_ng::{Func, FuncError, Value};

use super::args;

/// The functions of this module, by template name.
pub const FUNCTIONS: &[(&str, Func)] = &[
    ("add", add as Func),
    ("sub", sub as Func),
    ("mul", mul as Func),
    ("div", div as Func),
    ("mod", modulo as Func),
    ("max", max as Func),
    ("min", min as Func),
];

fn ints(values: &[Value]) -> impl Iterator<Item = i64> + '_ {
    values.iter().map(args::to_int64)
}

/// `add A B ...`: the sum (0 for no arguments).
fn add(values: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(ints(values).fold(0i64, i64::wrapping_add)))
}

/// `sub A B`: A - B.
fn sub(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("sub", values, 2)?;
    let (a, b) = (args::to_int64(&values[0]), args::to_int64(&values[1]));
    Ok(Value::from(a.wrapping_sub(b)))
}

/// `mul A B ...`: the product.
fn mul(values: &[Value]) -> Result<Value, FuncError> {
    args::at_least("mul", values, 1)?;
    Ok(Value::from(ints(values).fold(1i64, i64::wrapping_mul)))
}

fn divide(name: &str, values: &[Value], op: fn(i64, i64) -> i64) -> Result<Value, FuncError> {
    args::exactly(name, values, 2)?;
    let (a, b) = (args::to_int64(&values[0]), args::to_int64(&values[1]));
    if b == 0 {
        return Err(args::fail(name, "integer divide by zero"));
    }
    Ok(Value::from(op(a, b)))
}

/// `div A B`: A / B, truncated; dividing by zero fails.
fn div(values: &[Value]) -> Result<Value, FuncError> {
    divide("div", values, i64::wrapping_div)
}

/// `mod A B`: the remainder of A / B, with the sign of A.
fn modulo(values: &[Value]) -> Result<Value, FuncError> {
    divide("mod", values, i64::wrapping_rem)
}

/// `max A B ...`: the largest.
fn max(values: &[Value]) -> Result<Value, FuncError> {
    args::at_least("max", values, 1)?;
    Ok(Value::from(ints(values).max().unwrap_or(0)))
}

/// `min A B ...`: the smallest.
fn min(values: &[Value]) -> Result<Value, FuncError> {
    args::at_least("min", values, 1)?;
    Ok(Value::from(ints(values).min().unwrap_or(0)))
}
