//! OPA crypto builtins that regorus 0.14 does not provide, registered as
//! engine extensions: `crypto.hmac.sha256(x, key)` and `crypto.sha256(x)`,
//! both returning lower-case hex as OPA does.
//!
//! Like OPA's builtins outside strict mode, a call with arguments of the
//! wrong type is undefined rather than an error.

use regorus::{Engine, Value};

/// Adds the extensions to an engine before its policy is prepared.
pub(crate) fn register(engine: &mut Engine) -> anyhow::Result<()> {
    engine.add_extension("crypto.hmac.sha256".to_string(), 2, Box::new(hmac_sha256))?;
    engine.add_extension("crypto.sha256".to_string(), 1, Box::new(sha256))?;
    Ok(())
}

fn hmac_sha256(args: Vec<Value>) -> anyhow::Result<Value> {
    let (Some(Value::String(message)), Some(Value::String(key))) = (args.first(), args.get(1))
    else {
        return Ok(Value::Undefined);
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let tag = ring::hmac::sign(&key, message.as_bytes());
    Ok(Value::from(hex(tag.as_ref())))
}

fn sha256(args: Vec<Value>) -> anyhow::Result<Value> {
    let Some(Value::String(message)) = args.first() else {
        return Ok(Value::Undefined);
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, message.as_bytes());
    Ok(Value::from(hex(digest.as_ref())))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // RFC 4231 test case 2.
        let v = hmac_sha256(vec![
            Value::from("what do ya want for nothing?"),
            Value::from("Jefe"),
        ])
        .unwrap();
        assert_eq!(
            v,
            Value::from("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        let v = sha256(vec![Value::from("abc")]).unwrap();
        assert_eq!(
            v,
            Value::from("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            hmac_sha256(vec![Value::from(1), Value::from("k")]).unwrap(),
            Value::Undefined
        );
    }
}
