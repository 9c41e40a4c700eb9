//! Sprig's list functions. All of them return new lists; none changes its
//! argument.

use gtmpl_ng::{Func, FuncError, NumberKind, Value};

use super::args;

/// The functions of this module, by template name.
pub const FUNCTIONS: &[(&str, Func)] = &[
    ("list", list as Func),
    ("first", first as Func),
    ("last", last as Func),
    ("rest", rest as Func),
    ("initial", initial as Func),
    ("append", push as Func),
    ("push", push as Func),
    ("prepend", prepend as Func),
    ("concat", concat as Func),
    ("uniq", uniq as Func),
    ("has", has as Func),
    ("without", without as Func),
    ("compact", compact as Func),
    ("reverse", reverse as Func),
    ("until", until as Func),
];

/// Go's `reflect.DeepEqual` over template values: the kinds must match (an
/// int is never equal to a float64), then the contents.
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    if args::kind(a) != args::kind(b) {
        return false;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.kind(), y.kind()) {
            (NumberKind::Float(x), NumberKind::Float(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| deep_equal(x, y))
        }
        (Value::Map(x) | Value::Object(x), Value::Map(y) | Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (Value::Nil | Value::NoValue, Value::Nil | Value::NoValue) => true,
        _ => a == b,
    }
}

fn contains(haystack: &[Value], needle: &Value) -> bool {
    haystack.iter().any(|item| deep_equal(needle, item))
}

/// `list A B ...`: a new list of the arguments.
fn list(values: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Array(values.iter().map(args::stored).collect()))
}

fn one_list<'a>(name: &str, action: &str, values: &'a [Value]) -> Result<&'a [Value], FuncError> {
    args::exactly(name, values, 1)?;
    args::list(name, action, &values[0])
}

/// `first LIST`: the first element, nil for an empty list.
fn first(values: &[Value]) -> Result<Value, FuncError> {
    let items = one_list("first", "find first", values)?;
    Ok(items.first().map(args::stored).unwrap_or(Value::Nil))
}

/// `last LIST`: the last element, nil for an empty list.
fn last(values: &[Value]) -> Result<Value, FuncError> {
    let items = one_list("last", "find last", values)?;
    Ok(items.last().map(args::stored).unwrap_or(Value::Nil))
}

/// `rest LIST`: all but the first element, nil for an empty list.
fn rest(values: &[Value]) -> Result<Value, FuncError> {
    let items = one_list("rest", "find rest", values)?;
    Ok(match items.split_first() {
        Some((_, tail)) => Value::Array(tail.to_vec()),
        None => Value::Nil,
    })
}

/// `initial LIST`: all but the last element, nil for an empty list.
fn initial(values: &[Value]) -> Result<Value, FuncError> {
    let items = one_list("initial", "find initial", values)?;
    Ok(match items.split_last() {
        Some((_, head)) => Value::Array(head.to_vec()),
        None => Value::Nil,
    })
}

/// `append LIST X` (also `push`): a new list with X at the end.
fn push(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("append", values, 2)?;
    let mut items = args::list("append", "push", &values[0])?.to_vec();
    items.push(args::stored(&values[1]));
    Ok(Value::Array(items))
}

/// `prepend LIST X`: a new list with X at the front.
fn prepend(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("prepend", values, 2)?;
    let items = args::list("prepend", "prepend", &values[0])?;
    let mut out = Vec::with_capacity(items.len() + 1);
    out.push(args::stored(&values[1]));
    out.extend_from_slice(items);
    Ok(Value::Array(out))
}

/// `concat LIST LIST ...`: the lists one after another.
fn concat(values: &[Value]) -> Result<Value, FuncError> {
    let mut out = Vec::new();
    for value in values {
        match value {
            Value::Array(items) => out.extend_from_slice(items),
            other => {
                return Err(args::fail(
                    "concat",
                    format!("Cannot concat type {} as list", args::kind(other)),
                ))
            }
        }
    }
    Ok(Value::Array(out))
}

/// `uniq LIST`: the list without repeated elements, first occurrence kept.
fn uniq(values: &[Value]) -> Result<Value, FuncError> {
    let items = one_list("uniq", "uniq", values)?;
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        if !contains(&out, item) {
            out.push(item.clone());
        }
    }
    Ok(Value::Array(out))
}

/// `has NEEDLE LIST`: whether LIST holds NEEDLE; false for a nil LIST.
fn has(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("has", values, 2)?;
    if args::is_nil(&values[1]) {
        return Ok(Value::Bool(false));
    }
    let items = args::list("has", "find has", &values[1])?;
    Ok(Value::Bool(contains(items, &values[0])))
}

/// `without LIST X Y ...`: the list without the given elements.
fn without(values: &[Value]) -> Result<Value, FuncError> {
    args::at_least("without", values, 1)?;
    let items = args::list("without", "find without", &values[0])?;
    let omit = &values[1..];
    Ok(Value::Array(
        items
            .iter()
            .filter(|item| !contains(omit, item))
            .cloned()
            .collect(),
    ))
}

/// `compact LIST`: the list without empty elements.
fn compact(values: &[Value]) -> Result<Value, FuncError> {
    let items = one_list("compact", "compact", values)?;
    Ok(Value::Array(
        items
            .iter()
            .filter(|item| !args::is_empty(item))
            .cloned()
            .collect(),
    ))
}

/// `reverse LIST`: the list back to front.
fn reverse(values: &[Value]) -> Result<Value, FuncError> {
    let items = one_list("reverse", "find reverse", values)?;
    Ok(Value::Array(items.iter().rev().cloned().collect()))
}

/// `until N`: the integers 0..N (or 0 down to N+1 for a negative N), bounded
/// by the render's per-loop iteration limit.
fn until(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("until", values, 1)?;
    let count = args::int("until", values, 0)?;
    if let Some(limit) = gtmpl_ng::limits::active().iterations {
        if count.unsigned_abs() > limit as u64 {
            return Err(args::fail(
                "until",
                format!(
                    "{} elements is more than the {limit} allowed",
                    count.unsigned_abs()
                ),
            ));
        }
    }
    let out: Vec<Value> = if count >= 0 {
        (0..count).map(Value::from).collect()
    } else {
        (count + 1..=0).rev().map(Value::from).collect()
    };
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::value::float64;

    #[test]
    fn deep_equal_keeps_int_and_float_apart() {
        assert!(!deep_equal(&Value::from(1u64), &float64(1.0)));
        assert!(deep_equal(&float64(1.5), &float64(1.5)));
        assert!(deep_equal(&Value::from(1u64), &Value::from(1i64)));
        assert!(deep_equal(&Value::Nil, &Value::NoValue));
    }

    #[test]
    fn until_counts_both_ways() {
        assert_eq!(until(&[Value::from(3u64)]).unwrap().to_string(), "[0 1 2]");
        assert_eq!(
            until(&[Value::from(-3i64)]).unwrap().to_string(),
            "[0 -1 -2]"
        );
    }
}
