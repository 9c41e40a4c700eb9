//! Where a long body's bytes sit in memory while they pass through.
//!
//! Between two TLS sessions every byte of a body is copied twice in user
//! space: out of the reading session's plaintext (a buffer of its own per
//! record, which the allocator places on a page boundary) into the relay's
//! buffer, then out of the relay's buffer into the writing session's
//! record, after its 5-byte header. Some processors' string-copy
//! instruction, which glibc's `memcpy` uses for copies of a few KiB and
//! more, runs about 30 times slower when the destination lies 1 to 31
//! bytes past the source modulo 4 KiB (measured on AMD EPYC of the Zen 3
//! generation: 1.8 GB/s against 40 to 75 GB/s for 16 KiB copies). A relay
//! buffer starting on a page boundary puts every record's second copy at
//! exactly that distance (5 bytes), which cost a quarter of the proxy's CPU
//! time on a TLS-to-TLS download.
//!
//! An empty relay buffer therefore starts one cache line past a page
//! boundary, [`BODY_OFFSET`]: both copies are then 64 bytes or more away
//! from that window, and records read in whole (16 KiB each) keep the
//! buffer's start there.

use bytes::{Buf, BufMut, BytesMut};

/// Where an empty relay buffer's free space begins, modulo [`PAGE`].
pub(crate) const BODY_OFFSET: usize = 64;
/// The span over which copies alias (a page).
const PAGE: usize = 4096;

/// Bytes to skip from `at` to reach the next address at [`BODY_OFFSET`].
fn pad(at: *const u8) -> usize {
    BODY_OFFSET.wrapping_sub(at as usize) % PAGE
}

/// Gives the empty `buf` at least `room` bytes of free space, starting at
/// an address that is [`BODY_OFFSET`] past a page boundary. A buffer with
/// bytes in it is left alone (moving them would be a copy of its own).
pub(crate) fn place_empty(buf: &mut BytesMut, room: usize) {
    if !buf.is_empty() {
        return;
    }
    if buf.capacity() < pad(buf.as_ptr()) + room {
        // Empty, so this reclaims the allocation from its start, or
        // allocates anew, without copying anything.
        buf.reserve(room + PAGE);
    }
    let skip = pad(buf.as_ptr());
    if skip > 0 {
        buf.put_bytes(0, skip);
        buf.advance(skip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(buf: &BytesMut) -> usize {
        buf.as_ptr() as usize % PAGE
    }

    #[test]
    fn an_empty_buffer_starts_past_a_page_boundary_with_room() {
        for start in [0usize, 1, 5, 63, 64, 65, 4000, 4095] {
            let mut buf = BytesMut::with_capacity(64 * 1024);
            buf.put_bytes(7, start);
            buf.advance(start);
            place_empty(&mut buf, 16 * 1024);
            assert_eq!(offset(&buf), BODY_OFFSET, "start {start}");
            assert!(buf.is_empty());
            assert!(buf.capacity() >= 16 * 1024, "start {start}");
        }
    }

    #[test]
    fn a_full_buffer_is_reclaimed_then_placed() {
        let mut buf = BytesMut::with_capacity(32 * 1024);
        buf.put_bytes(1, 30 * 1024);
        buf.advance(30 * 1024);
        place_empty(&mut buf, 64 * 1024);
        assert_eq!(offset(&buf), BODY_OFFSET);
        assert!(buf.capacity() >= 64 * 1024);
        // Whole 16 KiB records read into it keep the next start in place.
        buf.put_bytes(2, 3 * 16 * 1024);
        buf.advance(3 * 16 * 1024);
        assert_eq!(offset(&buf), BODY_OFFSET);
    }

    #[test]
    fn bytes_in_the_buffer_stay_where_they_are() {
        let mut buf = BytesMut::with_capacity(8 * 1024);
        buf.put_slice(b"next request");
        let at = buf.as_ptr();
        place_empty(&mut buf, 64 * 1024);
        assert_eq!(buf.as_ptr(), at);
        assert_eq!(&buf[..], b"next request");
    }
}
