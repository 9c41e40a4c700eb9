//! Checking a chunked body (RFC 9112 §7.1) while it is relayed as is.
//!
//! The decoder does not copy: it tells the relay which input bytes to pass
//! on (chunk sizes, extensions, data, the final `0` chunk) and which to drop
//! (the trailer section, which never reaches the other side: a trailer
//! could otherwise carry credentials past the header filter). Parsing is
//! strict — CRLF line endings, hex sizes, no control characters in
//! extensions — so the receiver cannot read the framing differently from
//! us.

/// Longest chunk-size line (size, extensions), bytes.
const MAX_SIZE_LINE: usize = 4096;
/// Largest trailer section that is read and dropped, bytes.
const MAX_TRAILERS: usize = 64 * 1024;

/// What the next input bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Pass these many bytes of chunk data on.
    Data(usize),
    /// Pass these many bytes of framing on (sizes, extensions, CRLFs).
    Pass(usize),
    /// Drop these many bytes (trailer fields).
    Skip(usize),
    /// The body ended: drop these many bytes too (the rest of the trailer
    /// section and the blank line that ends it; the relay writes its own).
    End(usize),
    /// Everything given was looked at; more input is needed.
    More,
}

/// Why a chunked body cannot be relayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChunkError {
    #[error("malformed chunk framing")]
    Malformed,
    #[error("chunk size too large")]
    TooLarge,
    #[error("chunk size line or trailer section too long")]
    TooLong,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading a size line: `digits` hex digits so far, then `after` them.
    Size {
        digits: u8,
        value: u64,
        after: AfterSize,
    },
    SizeLf {
        value: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// In the trailer section; `line` bytes of the current field so far.
    Trailer {
        line: usize,
    },
    TrailerLf {
        empty: bool,
    },
    Done,
}

/// Where a size line is, once it has digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterSize {
    /// Still in the digits.
    Digits,
    /// In whitespace after them: only more whitespace, `;` or the line's
    /// end may follow (`5 6` would be 5 to us and 0x56 to a receiver that
    /// drops the space).
    Space,
    /// In the extensions, after a `;`.
    Ext,
}

/// Incremental chunked-body checker.
#[derive(Clone, Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// Bytes of the current size line, or of the whole trailer section.
    count: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size {
                digits: 0,
                value: 0,
                after: AfterSize::Digits,
            },
            count: 0,
        }
    }
}

impl ChunkedDecoder {
    /// Whether the whole body has been seen.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Looks at the start of `input` and says what to do with it. Call
    /// again with the rest until [`Piece::More`] or [`Piece::End`].
    pub(crate) fn next(&mut self, input: &[u8]) -> Result<Piece, ChunkError> {
        if input.is_empty() {
            return Ok(if self.is_done() {
                Piece::End(0)
            } else {
                Piece::More
            });
        }
        match self.state {
            State::Done => Ok(Piece::End(0)),
            State::Data(left) => {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                let left = left - n as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data(left)
                };
                Ok(Piece::Data(n))
            }
            State::Trailer { .. } | State::TrailerLf { .. } => self.trailers(input),
            _ => self.framing(input),
        }
    }

    /// Size lines and the CRLF after data: passed on.
    fn framing(&mut self, input: &[u8]) -> Result<Piece, ChunkError> {
        for (i, &b) in input.iter().enumerate() {
            match self.state {
                State::Size {
                    digits,
                    value,
                    after,
                } => {
                    self.count += 1;
                    if self.count > MAX_SIZE_LINE {
                        return Err(ChunkError::TooLong);
                    }
                    let size = |after| State::Size {
                        digits,
                        value,
                        after,
                    };
                    self.state = match (after, b) {
                        (_, b'\r') if digits > 0 => State::SizeLf { value },
                        (AfterSize::Ext, _) => {
                            if b != b'\t' && !(0x20..0x7f).contains(&b) && b < 0x80 {
                                return Err(ChunkError::Malformed);
                            }
                            size(AfterSize::Ext)
                        }
                        (_, b';') if digits > 0 => size(AfterSize::Ext),
                        (_, b' ' | b'\t') if digits > 0 => size(AfterSize::Space),
                        (AfterSize::Space, _) => return Err(ChunkError::Malformed),
                        (AfterSize::Digits, _) => {
                            let d = (b as char).to_digit(16).ok_or(ChunkError::Malformed)?;
                            if digits >= 15 {
                                return Err(ChunkError::TooLarge);
                            }
                            State::Size {
                                digits: digits + 1,
                                value: value * 16 + u64::from(d),
                                after: AfterSize::Digits,
                            }
                        }
                    };
                }
                State::SizeLf { value } => {
                    if b != b'\n' {
                        return Err(ChunkError::Malformed);
                    }
                    self.count = 0;
                    if value == 0 {
                        self.state = State::Trailer { line: 0 };
                        return Ok(Piece::Pass(i + 1));
                    }
                    self.state = State::Data(value);
                    return Ok(Piece::Pass(i + 1));
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(ChunkError::Malformed);
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Malformed);
                    }
                    self.state = State::Size {
                        digits: 0,
                        value: 0,
                        after: AfterSize::Digits,
                    };
                }
                _ => return Ok(Piece::Pass(i)),
            }
        }
        Ok(Piece::Pass(input.len()))
    }

    /// The trailer section: dropped up to the blank line that ends it.
    fn trailers(&mut self, input: &[u8]) -> Result<Piece, ChunkError> {
        for (i, &b) in input.iter().enumerate() {
            self.count += 1;
            if self.count > MAX_TRAILERS {
                return Err(ChunkError::TooLong);
            }
            match self.state {
                State::Trailer { line } => {
                    if b == b'\r' {
                        self.state = State::TrailerLf { empty: line == 0 };
                    } else if b == b'\n' || (b < 0x20 && b != b'\t') || b == 0x7f {
                        return Err(ChunkError::Malformed);
                    } else {
                        self.state = State::Trailer { line: line + 1 };
                    }
                }
                State::TrailerLf { empty } => {
                    if b != b'\n' {
                        return Err(ChunkError::Malformed);
                    }
                    if empty {
                        self.state = State::Done;
                        return Ok(Piece::End(i + 1));
                    }
                    self.state = State::Trailer { line: 0 };
                }
                _ => unreachable!("trailers() is only called in the trailer states"),
            }
        }
        Ok(Piece::Skip(input.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the decoder over `input` split into `step`-byte reads; returns
    /// the passed bytes and whether the end was seen.
    fn run(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        let mut fed = 0;
        let mut pos = 0;
        while fed < input.len() {
            fed = (fed + step).min(input.len());
            loop {
                match d.next(&input[pos..fed])? {
                    Piece::Pass(n) | Piece::Data(n) => {
                        out.extend_from_slice(&input[pos..pos + n]);
                        pos += n;
                    }
                    Piece::Skip(n) => pos += n,
                    Piece::End(n) => {
                        pos += n;
                        assert!(d.is_done());
                        return Ok((out, pos));
                    }
                    Piece::More => break,
                }
                if pos == fed {
                    break;
                }
            }
        }
        Err(ChunkError::Malformed)
    }

    #[test]
    fn passes_framing_and_data_and_drops_trailers() {
        let body = b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nAuthorization: Bearer x\r\nX-A: b\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, 1000] {
            let (out, used) = run(body, step).unwrap();
            assert_eq!(
                out,
                b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n".to_vec(),
                "step {step}"
            );
            assert_eq!(&body[used..], b"NEXT", "step {step}");
        }
        let (out, used) = run(b"0\r\n\r\n", 1).unwrap();
        assert_eq!((out, used), (b"0\r\n".to_vec(), 5));
    }

    #[test]
    fn rejects_what_a_receiver_could_read_differently() {
        for bad in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"\r\n",
            b"5;a\x00b\r\nhello\r\n0\r\n\r\n",
            b"0\r\nX: a\nY: b\r\n\r\n",
            b"fffffffffffffffff\r\n",
            // Digits after whitespace: 5 here, 0x56 to a receiver that
            // drops the space.
            b"5 6\r\nhello\r\n0\r\n\r\n",
            b"5\t6\r\nhello\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
        ] {
            assert!(run(bad, 1).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Whitespace before an extension or the line's end is unambiguous.
        for good in [
            &b"5 ;a=b\r\nhello\r\n0\r\n\r\n"[..],
            b"5\t ;a\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"5;a 6\r\nhello\r\n0\r\n\r\n",
        ] {
            let (out, used) = run(good, 1).unwrap();
            assert_eq!(used, good.len(), "{:?}", String::from_utf8_lossy(good));
            assert_eq!(out, good[..good.len() - 2].to_vec());
        }
        let long = format!("1;{}\r\n", "a".repeat(MAX_SIZE_LINE));
        assert_eq!(run(long.as_bytes(), 64), Err(ChunkError::TooLong));
    }

    /// Mutated bodies (bytes changed, dropped or repeated) never make the
    /// decoder panic or pass on more than it was given, and whether a body
    /// is accepted, and how it reads, does not depend on how it is split.
    #[test]
    fn mutated_bodies_are_refused_or_read_the_same_in_any_split() {
        let valid = b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n3 ;x\r\nabc\r\n0\r\nX-A: b\r\n\r\n";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"0123456789aAfFgG;= \t\r\nx\x00\x7f\x80";
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut body = valid.to_vec();
            for _ in 0..1 + next() % 3 {
                let at = (next() % body.len() as u64) as usize;
                match next() % 3 {
                    0 => body[at] = alphabet[(next() % alphabet.len() as u64) as usize],
                    1 => {
                        body.remove(at);
                    }
                    _ => body.insert(at, body[at]),
                }
            }
            let whole = run(&body, body.len());
            if let Ok((out, used)) = &whole {
                assert!(out.len() <= *used && *used <= body.len());
                accepted += 1;
            }
            for step in [1, 2, 5] {
                match (&whole, run(&body, step)) {
                    (Ok(w), Ok(s)) => assert_eq!(w, &s, "{:?}", String::from_utf8_lossy(&body)),
                    (Ok(_), Err(e)) => {
                        panic!("{e:?} at step {step}: {:?}", String::from_utf8_lossy(&body))
                    }
                    (Err(e), Ok(_)) => panic!(
                        "{e:?} whole, accepted at step {step}: {:?}",
                        String::from_utf8_lossy(&body)
                    ),
                    (Err(_), Err(_)) => {}
                }
            }
        }
        assert!(accepted > 0, "no mutated body was accepted");
    }
}
