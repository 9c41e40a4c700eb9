//! Sprig's dictionary functions.
//!
//! Values in this engine are not shared, so `set`, `unset` and `merge`
//! return the changed dictionary instead of changing their argument in place
//! as Sprig does. Use the result: `{{ $d = set $d "k" "v" }}`.

use std::collections::HashMap;

use gtmpl_ng::{Func, FuncError, Value};

use super::args;

/// The functions of this module, by template name.
pub const FUNCTIONS: &[(&str, Func)] = &[
    ("dict", dict as Func),
    ("get", get as Func),
    ("set", set as Func),
    ("unset", unset as Func),
    ("hasKey", has_key as Func),
    ("keys", keys as Func),
    ("values", values as Func),
    ("pick", pick as Func),
    ("omit", omit as Func),
    ("merge", merge as Func),
];

/// `dict K1 V1 K2 V2 ...`: a new dictionary; keys are formatted as strings,
/// a key without a value maps to "".
fn dict(values: &[Value]) -> Result<Value, FuncError> {
    let mut out = HashMap::new();
    for pair in values.chunks(2) {
        let key = args::strval(&pair[0]);
        let value = pair
            .get(1)
            .map(args::stored)
            .unwrap_or_else(|| Value::from(""));
        out.insert(key, value);
    }
    Ok(Value::Map(out))
}

/// `get DICT KEY`: the value, or "" when the key is absent.
fn get(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("get", values, 2)?;
    let d = args::map("get", values, 0)?;
    let key = args::string("get", values, 1)?;
    Ok(d.get(key).cloned().unwrap_or_else(|| Value::from("")))
}

/// A dictionary argument that is about to be changed; Go cannot change a
/// nil map.
fn writable(name: &str, values: &[Value]) -> Result<HashMap<String, Value>, FuncError> {
    if args::is_nil(&values[0]) {
        return Err(args::fail(name, "assignment to entry in nil map"));
    }
    Ok(args::map(name, values, 0)?.into_owned())
}

/// `set DICT KEY VALUE`: DICT with KEY set to VALUE.
fn set(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("set", values, 3)?;
    let key = args::string("set", values, 1)?;
    let mut d = writable("set", values)?;
    d.insert(key.to_owned(), args::stored(&values[2]));
    Ok(Value::Map(d))
}

/// `unset DICT KEY`: DICT without KEY.
fn unset(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("unset", values, 2)?;
    let key = args::string("unset", values, 1)?;
    let mut d = args::map("unset", values, 0)?.into_owned();
    d.remove(key);
    Ok(Value::Map(d))
}

/// `hasKey DICT KEY`.
fn has_key(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("hasKey", values, 2)?;
    let d = args::map("hasKey", values, 0)?;
    let key = args::string("hasKey", values, 1)?;
    Ok(Value::Bool(d.contains_key(key)))
}

/// `keys DICT ...`: the keys of all dictionaries. Sprig leaves the order to
/// Go's map iteration, which is random; here they are sorted per dictionary.
/// Pipe to `sortAlpha` when the order matters.
fn keys(values: &[Value]) -> Result<Value, FuncError> {
    let mut out = Vec::new();
    for index in 0..values.len() {
        let d = args::map("keys", values, index)?;
        let mut k: Vec<&String> = d.keys().collect();
        k.sort();
        out.extend(k.into_iter().map(|k| Value::from(k.as_str())));
    }
    Ok(Value::Array(out))
}

/// `values DICT`: the values, in key order (Sprig's order is random).
fn values(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("values", values, 1)?;
    let d = args::map("values", values, 0)?;
    let mut entries: Vec<(&String, &Value)> = d.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    Ok(Value::Array(
        entries.into_iter().map(|(_, v)| v.clone()).collect(),
    ))
}

fn key_list<'a>(name: &str, values: &'a [Value]) -> Result<Vec<&'a str>, FuncError> {
    (1..values.len())
        .map(|index| args::string(name, values, index))
        .collect()
}

/// `pick DICT K1 K2 ...`: a new dictionary with only the given keys.
fn pick(values: &[Value]) -> Result<Value, FuncError> {
    args::at_least("pick", values, 1)?;
    let d = args::map("pick", values, 0)?;
    let wanted = key_list("pick", values)?;
    Ok(Value::Map(
        wanted
            .into_iter()
            .filter_map(|k| d.get(k).map(|v| (k.to_owned(), v.clone())))
            .collect(),
    ))
}

/// `omit DICT K1 K2 ...`: a new dictionary without the given keys.
fn omit(values: &[Value]) -> Result<Value, FuncError> {
    args::at_least("omit", values, 1)?;
    let d = args::map("omit", values, 0)?;
    let unwanted = key_list("omit", values)?;
    Ok(Value::Map(
        d.iter()
            .filter(|(k, _)| !unwanted.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    ))
}

/// Sprig's merge without overwrite: a source key is taken when the
/// destination lacks it or holds an empty value, two dictionaries under the
/// same key merge recursively, anything else in the destination stays.
fn merge_into(dst: &mut HashMap<String, Value>, src: &HashMap<String, Value>) {
    for (key, source) in src {
        match dst.get_mut(key) {
            None => {
                dst.insert(key.clone(), source.clone());
            }
            Some(existing) if args::is_empty(existing) => *existing = source.clone(),
            Some(Value::Map(inner) | Value::Object(inner)) => {
                if let Value::Map(from) | Value::Object(from) = source {
                    merge_into(inner, from);
                }
            }
            Some(_) => {}
        }
    }
}

/// `merge DST SRC1 SRC2 ...`: DST completed from the sources; earlier
/// values win.
fn merge(values: &[Value]) -> Result<Value, FuncError> {
    args::at_least("merge", values, 1)?;
    let mut dst = args::map("merge", values, 0)?.into_owned();
    for index in 1..values.len() {
        let src = args::map("merge", values, index)?;
        merge_into(&mut dst, &src);
    }
    Ok(Value::Map(dst))
}
