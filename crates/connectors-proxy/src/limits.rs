//! Limits on a request head: how many header fields and how many bytes
//! (request line plus fields). Over either → 431.
//!
//! The HTTP/1.1 parser enforces a looser bound of its own while reading
//! (so a huge head is never buffered whole); this check gives the exact
//! limit and a plain-text answer, and covers HTTP/2 inside tunnels too.

use crate::error::RequestError;
use http::request::Parts;

/// Limits of one request head.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadLimits {
    pub(crate) max_bytes: usize,
    pub(crate) max_fields: usize,
}

impl HeadLimits {
    /// The answer to a head of `fields` header fields, over the limit.
    pub(crate) fn too_many_fields(&self, fields: usize) -> RequestError {
        RequestError::HeadersTooLarge(format!(
            "{fields} header fields, at most {} accepted",
            self.max_fields
        ))
    }

    /// Refuses a head over a limit.
    pub(crate) fn check(&self, head: &Parts) -> Result<(), RequestError> {
        let fields = head.headers.len();
        if fields > self.max_fields {
            return Err(self.too_many_fields(fields));
        }
        let line = head.method.as_str().len()
            + head
                .uri
                .path_and_query()
                .map(|p| p.as_str().len())
                .unwrap_or(1)
            + head.uri.authority().map(|a| a.as_str().len()).unwrap_or(0)
            + 12;
        let bytes = head
            .headers
            .iter()
            .fold(line, |n, (k, v)| n + k.as_str().len() + v.len() + 4);
        if bytes > self.max_bytes {
            return Err(RequestError::HeadersTooLarge(format!(
                "the request head has about {bytes} bytes, at most {} accepted",
                self.max_bytes
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(n: usize, value_len: usize) -> Parts {
        let mut b = http::Request::builder().uri("/x");
        let v = "v".repeat(value_len);
        for i in 0..n {
            b = b.header(format!("x-h{i}"), v.as_str());
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn counts_and_sizes() {
        let l = HeadLimits {
            max_bytes: 1024,
            max_fields: 10,
        };
        assert!(l.check(&head(10, 10)).is_ok());
        let e = l.check(&head(11, 1)).unwrap_err();
        assert_eq!(e.status(), 431);
        let e = l.check(&head(1, 2000)).unwrap_err();
        assert_eq!(e.status(), 431);
        assert!(e.to_string().contains("at most 1024"), "{e}");
    }
}
