//! Go's built-in template functions, where the engine's own version needs
//! a wrapper.
//!
//! The engine implements all of Go's built-ins (`and or not eq ne lt le gt
//! ge len index slice print printf println urlquery html js call`). Those
//! replaced here could report an argument's *value* when they fail ("unable
//! to compare TOKEN and 1"); these versions report only its kind, in Go's
//! wording. `index` is also made to follow Go on a map: the key must be a
//! string. The escapers (`urlquery html js`) are given a missing value as
//! nil, which they print as Go does (`<no value>`).

use gtmpl_ng::{funcs, Func, FuncError, NumberKind, Value};

use super::sprig::kind;

/// The replaced built-ins, by template name.
pub const FUNCTIONS: &[(&str, Func)] = &[
    ("len", len as Func),
    ("index", index as Func),
    ("slice", slice as Func),
    ("lt", lt as Func),
    ("le", le as Func),
    ("gt", gt as Func),
    ("ge", ge as Func),
    ("urlquery", urlquery as Func),
    ("html", html as Func),
    ("js", js as Func),
];

fn calling(name: &str, reason: impl std::fmt::Display) -> FuncError {
    FuncError::Generic(format!("error calling {name}: {reason}"))
}

fn arity(name: &str, args: &[Value], want: usize) -> Result<(), FuncError> {
    if args.len() == want {
        Ok(())
    } else {
        Err(FuncError::Generic(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )))
    }
}

/// `len X`: bytes of a string, elements of a list or map.
fn len(args: &[Value]) -> Result<Value, FuncError> {
    arity("len", args, 1)?;
    match &args[0] {
        Value::String(s) => Ok(Value::from(s.len())),
        Value::Array(items) => Ok(Value::from(items.len())),
        Value::Map(m) | Value::Object(m) => Ok(Value::from(m.len())),
        Value::Nil | Value::NoValue => Err(calling("len", "len of nil pointer")),
        other => Err(calling("len", format!("len of type {}", kind(other)))),
    }
}

/// A list or string position: a non-negative integer (Go refuses a float64).
fn position(name: &str, key: &Value) -> Result<Option<usize>, FuncError> {
    match key {
        Value::Number(n) => match n.kind() {
            NumberKind::Unsigned(u) => Ok(usize::try_from(u).ok()),
            NumberKind::Signed(_) => Ok(None),
            NumberKind::Float(_) => {
                Err(calling(name, "cannot index slice/array with type float64"))
            }
        },
        other => Err(calling(
            name,
            format!("cannot index slice/array with type {}", kind(other)),
        )),
    }
}

/// `index X K1 K2 ...`: `X[K1][K2]...`. A missing map key gives no value.
fn index(args: &[Value]) -> Result<Value, FuncError> {
    let Some((first, keys)) = args.split_first() else {
        return Err(FuncError::Generic(
            "wrong number of args for index: want at least 1 got 0".to_owned(),
        ));
    };
    let mut item = first.clone();
    for key in keys {
        item = match &item {
            Value::Array(items) => {
                let at = position("index", key)?;
                match at.and_then(|i| items.get(i)) {
                    Some(v) => v.clone(),
                    None => return Err(calling("index", "index out of range")),
                }
            }
            Value::String(s) => {
                let at = position("index", key)?;
                match at.and_then(|i| s.as_bytes().get(i)) {
                    Some(b) => Value::from(u64::from(*b)),
                    None => return Err(calling("index", "index out of range")),
                }
            }
            Value::Map(m) | Value::Object(m) => match key {
                Value::String(k) => m.get(k).cloned().unwrap_or(Value::NoValue),
                other => {
                    return Err(calling(
                        "index",
                        format!("value has type {}; should be string", kind(other)),
                    ))
                }
            },
            Value::Nil | Value::NoValue => return Err(calling("index", "index of untyped nil")),
            other => {
                return Err(calling(
                    "index",
                    format!("can't index item of type {}", kind(other)),
                ))
            }
        };
    }
    Ok(item)
}

/// `slice X I J`: Go's built-in, for strings and lists.
fn slice(args: &[Value]) -> Result<Value, FuncError> {
    funcs::slice(args).map_err(|e| {
        let text = e.to_string();
        let safe = [
            "slice of untyped nil",
            "can't slice item of type",
            "cannot ",
            "invalid slice index",
        ];
        if text.contains("argument") {
            e
        } else if safe.iter().any(|p| text.starts_with(p)) {
            calling("slice", text)
        } else if text.starts_with("index out of range") {
            calling("slice", "index out of range")
        } else {
            calling("slice", "slice index falls inside a multi-byte character")
        }
    })
}

/// Runs one of the engine's ordering comparisons, reporting a refusal by
/// kind only.
fn compare(name: &str, f: Func, args: &[Value]) -> Result<Value, FuncError> {
    arity(name, args, 2)?;
    f(args).map_err(|_| {
        calling(
            name,
            format!(
                "incompatible types for comparison: {} and {}",
                kind(&args[0]),
                kind(&args[1])
            ),
        )
    })
}

/// `lt A B`.
fn lt(args: &[Value]) -> Result<Value, FuncError> {
    compare("lt", funcs::lt, args)
}

/// `le A B`.
fn le(args: &[Value]) -> Result<Value, FuncError> {
    compare("le", funcs::le, args)
}

/// `gt A B`.
fn gt(args: &[Value]) -> Result<Value, FuncError> {
    compare("gt", funcs::gt, args)
}

/// `ge A B`.
fn ge(args: &[Value]) -> Result<Value, FuncError> {
    compare("ge", funcs::ge, args)
}

/// Runs an escaper with missing values turned into nil, as Go's argument
/// evaluation does.
fn escaper(f: Func, args: &[Value]) -> Result<Value, FuncError> {
    let args: Vec<Value> = args
        .iter()
        .map(|v| match v {
            Value::NoValue => Value::Nil,
            other => other.clone(),
        })
        .collect();
    f(&args)
}

/// `urlquery A ...`: the arguments joined as `print` does, query-escaped.
fn urlquery(args: &[Value]) -> Result<Value, FuncError> {
    escaper(funcs::urlquery, args)
}

/// `html A ...`: the arguments joined as `print` does, HTML-escaped.
fn html(args: &[Value]) -> Result<Value, FuncError> {
    escaper(funcs::html, args)
}

/// `js A ...`: the arguments joined as `print` does, JavaScript-escaped.
fn js(args: &[Value]) -> Result<Value, FuncError> {
    escaper(funcs::js, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_kinds_not_values() {
        let secret = Value::from("s3cr3t-t0k3n");
        for result in [
            len(&[Value::from(true)]),
            index(&[secret.clone(), Value::from("x")]),
            index(&[Value::Array(vec![secret.clone()]), Value::from(5u64)]),
            lt(&[secret.clone(), Value::from(1u64)]),
            slice(&[secret.clone(), Value::from(50u64)]),
        ] {
            let message = result.unwrap_err().to_string();
            assert!(!message.contains("s3cr3t"), "{message}");
        }
    }

    #[test]
    fn index_follows_go() {
        let list = Value::Array(vec![Value::from("a"), Value::from("b")]);
        assert_eq!(
            index(&[list.clone(), Value::from(1u64)]).unwrap(),
            Value::from("b")
        );
        assert_eq!(
            index(&[Value::from("abc"), Value::from(1u64)])
                .unwrap()
                .to_string(),
            "98"
        );
        let map = Value::Map([("k".to_owned(), list)].into_iter().collect());
        assert_eq!(
            index(&[map.clone(), Value::from("nope")]).unwrap(),
            Value::NoValue
        );
        assert!(index(&[map, Value::from(1u64)]).is_err());
    }
}
