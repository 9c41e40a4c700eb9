//! The template text as the engine is given it, and the way back to the
//! positions of the text as written.
//!
//! The engine's reading of string literals differs from Go's: it applies
//! escape sequences inside raw strings (`` `a\d` ``), which Go leaves alone,
//! mis-reads some escapes in quoted strings (`"\x41b"`, `"\U0001F600!"`),
//! does not know others (`"\a"`, `"\101"`), and can even loop forever on a
//! truncated one (`"\x4"`). So literals are decoded here with Go's rules and
//! handed to the engine in a form it reads correctly:
//!
//! - a quoted string becomes a quoted string whose only escapes are `\\`,
//!   `\"` and `\n`;
//! - a character constant becomes its decimal value, which is what Go makes
//!   of it;
//! - inside a raw string every backslash is doubled (and carriage returns
//!   dropped, as Go does), keeping the raw string's line breaks.
//!
//! Lines never change; columns after a rewritten literal do, and are mapped
//! back before they reach an error. A literal Go would refuse is reported
//! here, before the engine sees it.

/// A template text prepared for the engine.
pub(crate) struct Source {
    original: String,
    engine_text: String,
    /// Per 0-based line: `(engine column, original column)` pairs, 1-based,
    /// each marking the end of a rewritten literal. Columns between anchors
    /// keep their distance to the anchor before them.
    anchors: Vec<Vec<(usize, usize)>>,
    invalid: Option<InvalidLiteral>,
}

/// A string or character literal Go would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidLiteral {
    /// 1-based line.
    pub line: usize,
    /// 1-based byte column of the literal.
    pub column: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Where the scanner is.
enum State {
    Text,
    Action,
    Comment,
}

/// Builds the engine text: copies unchanged stretches lazily and records an
/// anchor after every replacement.
struct Writer<'a> {
    text: &'a str,
    out: String,
    copied: usize,
    anchors: Vec<Vec<(usize, usize)>>,
}

impl Writer<'_> {
    /// Replaces `text[start..end]` (on one line, starting at 0-based `line`
    /// whose first byte is `line_start`) with `replacement`.
    fn replace(
        &mut self,
        start: usize,
        end: usize,
        replacement: &str,
        line: usize,
        line_start: usize,
    ) {
        self.out.push_str(&self.text[self.copied..start]);
        self.out.push_str(replacement);
        self.copied = end;
        let engine_line_start = self.out.rfind('\n').map_or(0, |i| i + 1);
        let engine_column = self.out.len() - engine_line_start + 1;
        let original_column = end - line_start + 1;
        if self.anchors.len() <= line {
            self.anchors.resize_with(line + 1, Vec::new);
        }
        self.anchors[line].push((engine_column, original_column));
    }

    fn finish(mut self) -> (String, Vec<Vec<(usize, usize)>>) {
        self.out.push_str(&self.text[self.copied..]);
        (self.out, self.anchors)
    }
}

/// Reads `n` hex digits.
fn hex(bytes: &[u8], n: usize) -> Option<u32> {
    let digits = bytes.get(..n)?;
    digits.iter().try_fold(0u32, |acc, &b| {
        char::from(b).to_digit(16).map(|d| (acc << 4) | d)
    })
}

/// Decodes the body of a Go quoted literal (`"..."` or `'...'`) into bytes,
/// as `strconv.Unquote` does. `None` when Go would refuse it.
fn decode_quoted(body: &str, quote: u8) -> Option<Vec<u8>> {
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == quote {
            return None;
        }
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let escape = *bytes.get(i + 1)?;
        i += 2;
        let simple = match escape {
            b'a' => Some(7),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'\\' => Some(b'\\'),
            b'\'' | b'"' if escape == quote => Some(escape),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        match escape {
            b'x' => {
                out.push(u8::try_from(hex(&bytes[i..], 2)?).ok()?);
                i += 2;
            }
            b'0'..=b'7' => {
                let digits = bytes.get(i - 1..i + 2)?;
                let value = digits.iter().try_fold(0u32, |acc, &d| {
                    (b'0'..=b'7')
                        .contains(&d)
                        .then(|| acc * 8 + u32::from(d - b'0'))
                })?;
                out.push(u8::try_from(value).ok()?);
                i += 2;
            }
            b'u' | b'U' => {
                let n = if escape == b'u' { 4 } else { 8 };
                let c = char::from_u32(hex(&bytes[i..], n)?)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += n;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A quoted string as the engine reads it correctly.
fn engine_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The end (exclusive) of a quoted literal starting at `start`, or `None`
/// when it is not terminated on its line (the engine then reports it).
fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1).is_some_and(|&c| c != b'\n') => i += 2,
            b'\n' => return None,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// A literal's replacement in the engine text, or `None` when Go would
/// refuse the literal. `body` is the text between the quotes.
fn engine_literal(body: &str, quote: u8) -> Option<String> {
    let decoded = decode_quoted(body, quote).and_then(|b| String::from_utf8(b).ok());
    match (quote, decoded) {
        (b'"', Some(value)) => Some(engine_string(&value)),
        (_, Some(value)) => {
            let mut chars = value.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some(u32::from(c).to_string()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Walks a template text once, rewriting the literals inside actions into
/// the engine text.
struct Scanner<'a> {
    /// The text as written, and its bytes.
    text: &'a str,
    bytes: &'a [u8],
    /// The engine text built so far.
    writer: Writer<'a>,
    /// Whether `i` is in text, an action or a comment.
    state: State,
    /// 0-based line of `i`.
    line: usize,
    /// Byte offset where that line starts.
    line_start: usize,
    /// Byte offset being looked at.
    i: usize,
    /// The first literal Go would refuse.
    invalid: Option<InvalidLiteral>,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`, outside any action.
    fn new(text: &'a str) -> Self {
        Scanner {
            text,
            bytes: text.as_bytes(),
            writer: Writer {
                text,
                out: String::with_capacity(text.len()),
                copied: 0,
                anchors: Vec::new(),
            },
            state: State::Text,
            line: 0,
            line_start: 0,
            i: 0,
            invalid: None,
        }
    }

    /// Scans to the end of the text or to the first literal Go would refuse.
    fn scan(&mut self) {
        while self.i < self.bytes.len() && self.invalid.is_none() {
            let moved = match self.state {
                State::Text => self.open_action(),
                State::Comment => self.step_over(b"*/", State::Action),
                State::Action => self.scan_action(),
            };
            if !moved {
                self.advance(self.i + 1);
            }
        }
    }

    /// The prepared source.
    fn into_source(self) -> Source {
        let (engine_text, anchors) = self.writer.finish();
        Source {
            original: self.text.to_owned(),
            engine_text,
            anchors,
            invalid: self.invalid,
        }
    }

    /// Moves to `to`, counting the lines passed.
    fn advance(&mut self, to: usize) {
        for (offset, &b) in self.bytes[self.i..to].iter().enumerate() {
            if b == b'\n' {
                self.line += 1;
                self.line_start = self.i + offset + 1;
            }
        }
        self.i = to;
    }

    /// Steps past `marker` into `next` when the text continues with it;
    /// whether it did.
    fn step_over(&mut self, marker: &[u8; 2], next: State) -> bool {
        if !self.bytes[self.i..].starts_with(marker) {
            return false;
        }
        self.state = next;
        self.advance(self.i + 2);
        true
    }

    /// In text: steps past an opening `{{`, and into a comment when one
    /// starts there; whether an action opened.
    fn open_action(&mut self) -> bool {
        let bytes = self.bytes;
        if !bytes[self.i..].starts_with(b"{{") {
            return false;
        }
        // Past `{{` and a trim marker's `-`; a blank after the
        // marker is scanned normally.
        let mut after = self.i + 2;
        let mut comment_at = after;
        if bytes.get(after) == Some(&b'-')
            && bytes
                .get(after + 1)
                .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        {
            after += 1;
            comment_at += 2;
        }
        let next = if bytes[comment_at.min(bytes.len())..].starts_with(b"/*") {
            self.state = State::Comment;
            comment_at + 2
        } else {
            self.state = State::Action;
            after
        };
        self.advance(next);
        true
    }

    /// In an action: steps past its closing `}}` or past a literal (rewriting
    /// it); whether it moved.
    fn scan_action(&mut self) -> bool {
        if self.step_over(b"}}", State::Text) {
            return true;
        }
        match self.bytes[self.i] {
            quote @ (b'"' | b'\'') => self.rewrite_quoted(quote),
            b'`' => self.rewrite_raw(),
            _ => return false,
        }
        true
    }

    /// Rewrites the quoted string or character constant starting here, or
    /// records it as invalid.
    fn rewrite_quoted(&mut self, quote: u8) {
        let i = self.i;
        let Some(end) = quoted_end(self.bytes, i, quote) else {
            // Unterminated: left for the engine to report.
            self.i += 1;
            return;
        };
        match engine_literal(&self.text[i + 1..end - 1], quote) {
            Some(r) => self.writer.replace(i, end, &r, self.line, self.line_start),
            None => {
                self.invalid = Some(InvalidLiteral {
                    line: self.line + 1,
                    column: i - self.line_start + 1,
                    reason: if quote == b'"' {
                        "invalid syntax in quoted string"
                    } else {
                        "invalid syntax in character constant"
                    },
                })
            }
        }
        self.i = end;
    }

    /// Rewrites the raw string starting here: backslashes doubled, carriage
    /// returns dropped, line breaks kept.
    fn rewrite_raw(&mut self) {
        let bytes = self.bytes;
        let Some(close) = bytes[self.i + 1..].iter().position(|&b| b == b'`') else {
            self.i += 1;
            return;
        };
        let end = self.i + 1 + close + 1;
        let mut j = self.i + 1;
        while j < end - 1 {
            match bytes[j] {
                b'\\' => self
                    .writer
                    .replace(j, j + 1, "\\\\", self.line, self.line_start),
                b'\r' => self
                    .writer
                    .replace(j, j + 1, "", self.line, self.line_start),
                b'\n' => {
                    self.line += 1;
                    self.line_start = j + 1;
                }
                _ => {}
            }
            j += 1;
        }
        self.i = end;
    }
}

impl Source {
    /// Prepares `text`.
    pub(crate) fn new(text: &str) -> Source {
        let mut scanner = Scanner::new(text);
        scanner.scan();
        scanner.into_source()
    }

    /// The text to parse.
    pub(crate) fn engine_text(&self) -> &str {
        &self.engine_text
    }

    /// The first literal Go would refuse, if any.
    pub(crate) fn invalid_literal(&self) -> Option<InvalidLiteral> {
        self.invalid
    }

    /// The original column of an engine position (both 1-based bytes).
    pub(crate) fn column(&self, line: usize, engine_column: usize) -> usize {
        let anchors = line.checked_sub(1).and_then(|l| self.anchors.get(l));
        match anchors.and_then(|a| a.iter().rev().find(|(e, _)| *e <= engine_column)) {
            Some(&(engine, original)) => original + (engine_column - engine),
            None => engine_column,
        }
    }

    /// The original text of the construct the engine placed at `line`,
    /// `column` with byte length `len` (engine positions), when it sits on
    /// one line and is short enough to quote in a message.
    pub(crate) fn snippet(&self, line: usize, column: usize, len: usize) -> Option<&str> {
        const MAX_SNIPPET: usize = 80;
        if line == 0 || column == 0 || len == 0 {
            return None;
        }
        let text = self.original.split('\n').nth(line - 1)?;
        let start = self.column(line, column).checked_sub(1)?;
        let end = self.column(line, column + len).checked_sub(1)?;
        let snippet = text.get(start..end)?;
        (snippet.len() <= MAX_SNIPPET).then_some(snippet)
    }

    /// Position just past the end of the text.
    pub(crate) fn end(&self) -> (usize, usize) {
        let line = self.original.matches('\n').count() + 1;
        let last = self.original.rsplit('\n').next().unwrap_or("");
        (line, last.len() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_literals_inside_actions_only() {
        let s = Source::new(r#"a\b "x" {{ `x\d` "q\"`\x41\u00e9" 'a' '\n' }} `\n` {{/* `\ " */}}"#);
        assert_eq!(
            s.engine_text(),
            r#"a\b "x" {{ `x\\d` "q\"`Aé" 97 10 }} `\n` {{/* `\ " */}}"#
        );
        assert_eq!(s.invalid_literal(), None);
    }

    #[test]
    fn raw_strings_keep_their_lines() {
        let s = Source::new("{{ `a\\\nb\r\\` }}{{ .x }}");
        assert_eq!(s.engine_text(), "{{ `a\\\\\nb\\\\` }}{{ .x }}");
        // `.x` is at column 11 of line 2 in both texts: one byte was
        // dropped, one doubled.
        assert_eq!(s.column(2, 11), 11);
        assert_eq!(s.snippet(2, 11, 2), Some(".x"));
    }

    #[test]
    fn maps_columns_back() {
        let s = Source::new(r#"{{ "\x41\x42" }}{{ .x }}"#);
        assert_eq!(s.engine_text(), r#"{{ "AB" }}{{ .x }}"#);
        // `.x` is at original column 20, engine column 14.
        assert_eq!(s.column(1, 14), 20);
        assert_eq!(s.column(1, 3), 3);
        assert_eq!(s.snippet(1, 14, 2), Some(".x"));
        assert_eq!(s.column(2, 9), 9);
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in [
            r#"{{ "\x4" }}"#,
            r#"{{ "\q" }}"#,
            r#"{{ '\'' '' }}"#,
            r#"{{ "\xff" }}"#,
            r#"{{ "\'" }}"#,
            r#"{{ "\400" }}"#,
            r#"{{ "\ud800" }}"#,
        ] {
            assert!(Source::new(bad).invalid_literal().is_some(), "{bad}");
        }
        assert!(Source::new(r#"{{ "\101\a\v\U0001F600!" }}"#)
            .invalid_literal()
            .is_none());
    }

    #[test]
    fn end_position() {
        assert_eq!(Source::new("ab\ncde").end(), (2, 4));
        assert_eq!(Source::new("").end(), (1, 1));
    }
}
