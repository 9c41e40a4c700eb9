//! JSON output byte-for-byte as Go's `encoding/json` writes it, which is what
//! Sprig's `toJson` and `toPrettyJson` produce: map keys sorted, `<`, `>` and
//! `&` escaped as `\u003c`..., floats in Go's notation.

use std::fmt::Write;

use gtmpl_ng::{NumberKind, Value};

/// Why a value has no JSON form.
#[derive(Debug)]
pub struct Unsupported;

/// Encodes compactly (`json.Marshal`).
pub fn encode(value: &Value) -> Result<String, Unsupported> {
    let mut out = String::new();
    write_value(&mut out, value, None, 0)?;
    Ok(out)
}

/// Encodes with two-space indentation (`json.MarshalIndent(v, "", "  ")`).
pub fn encode_pretty(value: &Value) -> Result<String, Unsupported> {
    let mut out = String::new();
    write_value(&mut out, value, Some("  "), 0)?;
    Ok(out)
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(unit) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(unit);
        }
    }
}

fn write_value(
    out: &mut String,
    value: &Value,
    indent: Option<&str>,
    depth: usize,
) -> Result<(), Unsupported> {
    match value {
        Value::Nil | Value::NoValue => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => write_string(out, s),
        Value::Number(n) => match n.kind() {
            NumberKind::Unsigned(u) => {
                let _ = write!(out, "{u}");
            }
            NumberKind::Signed(i) => {
                let _ = write!(out, "{i}");
            }
            NumberKind::Float(f) => write_float(out, f)?,
        },
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_value(out, item, indent, depth + 1)?;
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Value::Map(entries) | Value::Object(entries) => {
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            let mut keys: Vec<&String> = entries.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_string(out, key);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_value(out, &entries[key], indent, depth + 1)?;
            }
            newline(out, indent, depth);
            out.push('}');
        }
        Value::Function(_) => return Err(Unsupported),
    }
    Ok(())
}

/// Go's float64 encoding: fixed notation between 1e-6 and 1e21, exponent
/// notation (`1e+21`, `1e-7`) outside; NaN and infinities are refused.
fn write_float(out: &mut String, f: f64) -> Result<(), Unsupported> {
    if !f.is_finite() {
        return Err(Unsupported);
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let formatted = format!("{f:e}");
        let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
        out.push_str(mantissa);
        out.push('e');
        match exponent.strip_prefix('-') {
            Some(digits) => {
                out.push('-');
                out.push_str(digits);
            }
            None => {
                out.push('+');
                if exponent.len() < 2 {
                    out.push('0');
                }
                out.push_str(exponent);
            }
        }
    } else {
        let _ = write!(out, "{f}");
    }
    Ok(())
}

fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::value::float64;
    use std::collections::HashMap;

    #[test]
    fn floats_follow_go() {
        let cases = [
            (1.0, "1"),
            (2.5, "2.5"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (-1.5e-10, "-1.5e-10"),
            (123456789.0, "123456789"),
        ];
        for (f, want) in cases {
            assert_eq!(encode(&float64(f)).unwrap(), want, "{f}");
        }
        assert!(encode(&float64(f64::NAN)).is_err());
    }

    #[test]
    fn strings_escape_html_and_controls() {
        assert_eq!(
            encode(&Value::from("<a&b>\"\\\n\u{1}\u{2028}é")).unwrap(),
            r#""\u003ca\u0026b\u003e\"\\\n\u0001\u2028é""#
        );
    }

    #[test]
    fn pretty_output_matches_marshal_indent() {
        let mut m = HashMap::new();
        m.insert(
            "b".to_owned(),
            Value::Array(vec![Value::from(1u64), Value::from("x")]),
        );
        m.insert("a".to_owned(), Value::Map(HashMap::new()));
        m.insert("c".to_owned(), Value::Array(vec![]));
        assert_eq!(
            encode_pretty(&Value::Map(m.clone())).unwrap(),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    \"x\"\n  ],\n  \"c\": []\n}"
        );
        assert_eq!(
            encode(&Value::Map(m)).unwrap(),
            r#"{"a":{},"b":[1,"x"],"c":[]}"#
        );
    }
}
