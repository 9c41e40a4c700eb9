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
    /// Reading the size digits (`digits` so far) or, after them, the rest
    /// of the line.
    Size {
        digits: u8,
        value: u64,
        ext: bool,
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
                ext: false,
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
                State::Size { digits, value, ext } => {
                    self.count += 1;
                    if self.count > MAX_SIZE_LINE {
                        return Err(ChunkError::TooLong);
                    }
                    match b {
                        b'\r' if digits > 0 => self.state = State::SizeLf { value },
                        _ if ext => {
                            if b != b'\t' && !(0x20..0x7f).contains(&b) && b < 0x80 {
                                return Err(ChunkError::Malformed);
                            }
                        }
                        b';' | b' ' | b'\t' if digits > 0 => {
                            self.state = State::Size {
                                digits,
                                value,
                                ext: true,
                            }
                        }
                        _ => {
                            let d = (b as char).to_digit(16).ok_or(ChunkError::Malformed)?;
                            if digits >= 15 {
                                return Err(ChunkError::TooLarge);
                            }
                            self.state = State::Size {
                                digits: digits + 1,
                                value: value * 16 + u64::from(d),
                                ext: false,
                            };
                        }
                    }
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
                        ext: false,
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
        ] {
            assert!(run(bad, 1).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let long = format!("1;{}\r\n", "a".repeat(MAX_SIZE_LINE));
        assert_eq!(run(long.as_bytes(), 64), Err(ChunkError::TooLong));
    }
}
