//! Whose AES-GCM the proxy's TLS sessions use.
//!
//! An intercepted tunnel decrypts and encrypts every byte once more, so
//! the cipher's speed is the proxy's. Two libraries implement it, and
//! which one is faster depends on the processor: aws-lc uses 512-bit vector
//! AES where the CPU has it (on AMD Zen 5, AES-128-GCM on 16 KiB records:
//! aws-lc 13 GB/s, ring 8.4), ring uses 256-bit vector AES where that is
//! all there is (on AMD Zen 3: ring 6.6 GB/s, aws-lc 3.5). By default the
//! proxy times both once, when it builds its first TLS configuration
//! (under a millisecond), and keeps the faster; `--tls-aes` names one
//! instead. Key exchange, signatures and everything else stay aws-lc's.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Which AES-GCM implementation to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AesGcm {
    /// The faster of the two on this machine, timed at first use.
    #[default]
    Auto,
    /// This library's.
    Named(AesLib),
}

/// A library whose AES-GCM the proxy's TLS can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AesLib {
    Ring,
    AwsLc,
}

impl AesLib {
    fn name(self) -> &'static str {
        match self {
            AesLib::Ring => "ring",
            AesLib::AwsLc => "aws-lc",
        }
    }
}

impl FromStr for AesGcm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(AesGcm::Auto);
        }
        [AesLib::Ring, AesLib::AwsLc]
            .into_iter()
            .find(|lib| lib.name() == s)
            .map(AesGcm::Named)
            .ok_or_else(|| {
                format!("{s:?} is not an AES-GCM implementation: use auto, ring or aws-lc")
            })
    }
}

impl fmt::Display for AesGcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AesGcm::Auto => f.write_str("auto"),
            AesGcm::Named(lib) => lib.fmt(f),
        }
    }
}

impl fmt::Display for AesLib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes sealed per timed trial: eight full TLS records.
const RECORD: usize = 16 * 1024;
const RECORDS_PER_TRIAL: usize = 8;
/// Trials per implementation; the fastest of each counts.
const TRIALS: usize = 7;

/// Resolves `wanted` to a library; `Auto` times both, and the figures
/// (GB/s of ring, then aws-lc) come back with the choice.
pub(crate) fn resolve(wanted: AesGcm) -> (AesLib, Option<(f64, f64)>) {
    if let AesGcm::Named(lib) = wanted {
        return (lib, None);
    }
    let (ring, aws_lc) = (ring_sealer(), aws_lc_sealer());
    let (mut best_ring, mut best_aws_lc) = (Duration::MAX, Duration::MAX);
    let mut buf = vec![0u8; RECORD];
    // Taking turns spreads any disturbance (a frequency change, another
    // process) over both.
    for _ in 0..TRIALS {
        best_ring = best_ring.min(trial(&ring, &mut buf));
        best_aws_lc = best_aws_lc.min(trial(&aws_lc, &mut buf));
    }
    let rate = |d: Duration| (RECORD * RECORDS_PER_TRIAL) as f64 / d.as_secs_f64().max(1e-9) / 1e9;
    let figures = (rate(best_ring), rate(best_aws_lc));
    (faster(figures), Some(figures))
}

/// The implementation with the higher rate; aws-lc on a tie.
fn faster((ring, aws_lc): (f64, f64)) -> AesLib {
    if ring > aws_lc {
        AesLib::Ring
    } else {
        AesLib::AwsLc
    }
}

type Sealer = Box<dyn Fn(&mut [u8], u64)>;

fn trial(seal: &Sealer, buf: &mut [u8]) -> Duration {
    let start = Instant::now();
    for i in 0..RECORDS_PER_TRIAL as u64 {
        seal(buf, i);
    }
    start.elapsed()
}

fn nonce(i: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&i.to_be_bytes());
    n
}

/// A sealer of AES-128-GCM from `$lib`, whose `aead` module has ring's API
/// (aws-lc-rs copies it).
macro_rules! sealer {
    ($lib:ident) => {{
        use $lib::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
        let key = UnboundKey::new(&AES_128_GCM, &[0x5a; 16]).expect("a 16-byte key");
        let key = LessSafeKey::new(key);
        let seal: Sealer = Box::new(move |buf, i| {
            let nonce = Nonce::assume_unique_for_key(nonce(i));
            let tag = key.seal_in_place_separate_tag(nonce, Aad::empty(), buf);
            std::hint::black_box(tag.ok());
        });
        seal
    }};
}

fn ring_sealer() -> Sealer {
    sealer!(ring)
}

fn aws_lc_sealer() -> Sealer {
    sealer!(aws_lc_rs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for a in [
            AesGcm::Auto,
            AesGcm::Named(AesLib::Ring),
            AesGcm::Named(AesLib::AwsLc),
        ] {
            assert_eq!(a.to_string().parse::<AesGcm>().unwrap(), a);
        }
        assert_eq!("aws-lc".parse(), Ok(AesGcm::Named(AesLib::AwsLc)));
        assert_eq!(AesGcm::Named(AesLib::Ring).to_string(), "ring");
        let e = "openssl".parse::<AesGcm>().unwrap_err();
        assert!(e.contains("auto, ring or aws-lc"), "{e}");
    }

    #[test]
    fn a_named_implementation_is_taken_without_timing() {
        for lib in [AesLib::Ring, AesLib::AwsLc] {
            assert_eq!(resolve(AesGcm::Named(lib)), (lib, None));
        }
    }

    #[test]
    fn auto_times_both_and_takes_the_faster() {
        let (chosen, figures) = resolve(AesGcm::Auto);
        let (ring, aws_lc) = figures.expect("auto times both");
        assert!(ring > 0.01 && aws_lc > 0.01, "{ring} {aws_lc}");
        assert_eq!(chosen, faster((ring, aws_lc)));
        assert_eq!(faster((6.6, 3.5)), AesLib::Ring);
        assert_eq!(faster((8.4, 13.0)), AesLib::AwsLc);
    }

    #[test]
    fn both_seal_the_same_bytes() {
        // Same key, nonce and input: the same ciphertext, so either can
        // serve a session the other started.
        let (mut a, mut b) = (vec![1u8; 100], vec![1u8; 100]);
        ring_sealer()(&mut a, 3);
        aws_lc_sealer()(&mut b, 3);
        assert_eq!(a, b);
        assert_ne!(a, vec![1u8; 100]);
    }
}
