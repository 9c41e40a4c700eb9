//! Sprig's encoding functions: `toJson`, `toPrettyJson`, `fromJson`,
//! `b64enc`, `b64dec`.

use base64::Engine;
use gtmpl_ng::{Func, FuncError, Value};

use super::{args, json};

/// The functions of this module, by template name.
pub const FUNCTIONS: &[(&str, Func)] = &[
    ("toJson", to_json as Func),
    ("toPrettyJson", to_pretty_json as Func),
    ("fromJson", from_json as Func),
    ("b64enc", b64enc as Func),
    ("b64dec", b64dec as Func),
];

/// `toJson X`: compact JSON as Go writes it; "" when X has no JSON form.
fn to_json(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("toJson", values, 1)?;
    Ok(Value::String(json::encode(&values[0]).unwrap_or_default()))
}

/// `toPrettyJson X`: JSON indented by two spaces.
fn to_pretty_json(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("toPrettyJson", values, 1)?;
    Ok(Value::String(
        json::encode_pretty(&values[0]).unwrap_or_default(),
    ))
}

/// `fromJson S`: the decoded value (objects become dictionaries, numbers
/// float64); nil when S is not JSON.
fn from_json(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("fromJson", values, 1)?;
    let text = args::string("fromJson", values, 0)?;
    Ok(match serde_json::from_str::<serde_json::Value>(text) {
        Ok(decoded) => crate::template::value::from_json(&decoded),
        Err(_) => Value::Nil,
    })
}

/// `b64enc S`: standard Base64 with padding.
fn b64enc(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("b64enc", values, 1)?;
    let s = args::string("b64enc", values, 0)?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes()),
    ))
}

/// `b64dec S`: the decoded text. As in Sprig, input that is not Base64
/// yields Go's error text (`illegal base64 data at input byte N`) as the
/// result instead of failing. Decoded bytes that are not UTF-8 text fail the
/// render, since they cannot be written out unchanged.
fn b64dec(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("b64dec", values, 1)?;
    let s = args::string("b64dec", values, 0)?;
    match decode_std(s.as_bytes()) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Value::String)
            .map_err(|_| args::fail("b64dec", "the decoded data is not UTF-8 text")),
        Err(offset) => Ok(Value::String(format!(
            "illegal base64 data at input byte {offset}"
        ))),
    }
}

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

fn is_newline(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Go's `base64.StdEncoding.DecodeString`: padding required, `\r` and `\n`
/// ignored anywhere, and on failure the offset Go reports.
fn decode_std(src: &[u8]) -> Result<Vec<u8>, usize> {
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    loop {
        let mut quantum = [0u8; 4];
        let mut filled = 0;
        while filled < 4 {
            if si == src.len() {
                match filled {
                    0 => return Ok(out),
                    _ => return Err(si - filled),
                }
            }
            let b = src[si];
            si += 1;
            if is_newline(b) {
                continue;
            }
            if let Some(v) = sextet(b) {
                quantum[filled] = v;
                filled += 1;
                continue;
            }
            if b != b'=' {
                return Err(si - 1);
            }
            // Padding: only after two or three data characters.
            match filled {
                0 | 1 => return Err(si - 1),
                2 => {
                    while si < src.len() && is_newline(src[si]) {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(src.len());
                    }
                    if src[si] != b'=' {
                        return Err(si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && is_newline(src[si]) {
                si += 1;
            }
            if si < src.len() {
                return Err(si);
            }
            push_quantum(&mut out, &quantum, filled);
            return Ok(out);
        }
        push_quantum(&mut out, &quantum, 4);
    }
}

fn push_quantum(out: &mut Vec<u8>, q: &[u8; 4], filled: usize) {
    let n = (u32::from(q[0]) << 18)
        | (u32::from(q[1]) << 12)
        | (u32::from(q[2]) << 6)
        | u32::from(q[3]);
    let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
    out.extend_from_slice(&bytes[..filled.saturating_sub(1)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_go() {
        assert_eq!(decode_std(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_std(b"aGVs\nbG8=").unwrap(), b"hello");
        assert_eq!(decode_std(b"aGk=").unwrap(), b"hi");
        assert_eq!(decode_std(b"").unwrap(), b"");
        assert_eq!(decode_std(b"aGk"), Err(0));
        assert_eq!(decode_std(b"a!"), Err(1));
        assert_eq!(decode_std(b"aGk=x"), Err(4));
        assert_eq!(decode_std(b"a==="), Err(1));
    }
}
