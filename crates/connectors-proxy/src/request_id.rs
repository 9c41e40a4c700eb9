//! Per-request ids: unique within a process, unpredictable across processes,
//! shown in the `X-Request-Id` header of proxy-generated responses and in
//! the request log line.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// Id of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Hands out [`RequestId`]s: a random per-process offset plus a counter,
/// scrambled so consecutive ids do not look alike.
#[derive(Debug)]
pub(crate) struct RequestIds {
    seed: u64,
    next: AtomicU64,
}

impl RequestIds {
    pub(crate) fn new() -> RequestIds {
        RequestIds {
            seed: RandomState::new().hash_one(0x5eed_u64),
            next: AtomicU64::new(0),
        }
    }

    pub(crate) fn next(&self) -> RequestId {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        RequestId(mix(self
            .seed
            .wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15))))
    }
}

/// A bijective 64-bit mixer (splitmix64 finaliser), so distinct counters give
/// distinct ids.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_hex() {
        let ids = RequestIds::new();
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 16);
    }
}
