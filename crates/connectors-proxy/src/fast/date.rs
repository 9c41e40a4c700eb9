//! The `Date` field a proxy adds to responses that lack one (RFC 9110
//! §6.6.1), formatted once per second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends `date: <IMF-fixdate>\r\n`.
pub(crate) fn append_field(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(c.1.as_bytes());
        out.extend_from_slice(b"\r\n");
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_parse_back() {
        let mut out = Vec::new();
        super::append_field(&mut out);
        let text = String::from_utf8(out).unwrap();
        let value = text.strip_prefix("date: ").unwrap().trim_end();
        let t = httpdate::parse_http_date(value).unwrap();
        let age = std::time::SystemTime::now().duration_since(t).unwrap();
        assert!(age.as_secs() < 5, "{value}");
    }
}
