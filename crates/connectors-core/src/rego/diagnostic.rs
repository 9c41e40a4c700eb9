//! Turning regorus error text into short messages: `line L, column C: what`
//! plus the policy line, with anything that could be an input value removed
//! from evaluation errors.

/// The useful parts of a regorus error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Diagnostic {
    /// 1-based line and column in the policy, when regorus gave one.
    pub(crate) position: Option<(u32, u32)>,
    /// The innermost message, first line only.
    pub(crate) message: String,
}

/// Longest message kept from regorus, in characters.
const MAX_MESSAGE: usize = 240;
/// Longest policy excerpt quoted next to a position, in characters.
const MAX_EXCERPT: usize = 100;

impl Diagnostic {
    /// Parses regorus's rendering (`--> file:line:col`, a source excerpt,
    /// then `error: message`).
    pub(crate) fn parse(text: &str) -> Diagnostic {
        let position = text.lines().find_map(|l| {
            let loc = l.trim_start().strip_prefix("--> ")?;
            let mut parts = loc.rsplitn(3, ':');
            let col = parts.next()?.trim().parse().ok()?;
            let line = parts.next()?.trim().parse().ok()?;
            Some((line, col))
        });
        let message = match text.rfind("\nerror: ") {
            Some(i) => &text[i + "\nerror: ".len()..],
            None => text.strip_prefix("error: ").unwrap_or(text),
        };
        let message = message
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("unknown error");
        Diagnostic {
            position,
            message: message.to_string(),
        }
    }

    /// A message built from scratch, without position.
    pub(crate) fn plain(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            position: None,
            message: message.into(),
        }
    }

    /// `line L, column C: message (near `policy text`)`.
    pub(crate) fn render(&self, source: &str) -> String {
        let message = truncate(&self.message, MAX_MESSAGE);
        match self.position {
            Some((line, col)) => {
                let excerpt = usize::try_from(line)
                    .ok()
                    .and_then(|l| l.checked_sub(1))
                    .and_then(|l| source.lines().nth(l))
                    .map(str::trim)
                    .filter(|l| !l.is_empty());
                match excerpt {
                    Some(e) => format!(
                        "line {line}, column {col}: {message} (at `{}`)",
                        truncate(e, MAX_EXCERPT)
                    ),
                    None => format!("line {line}, column {col}: {message}"),
                }
            }
            None => message,
        }
    }

    /// Removes from the message anything that may come from the input:
    /// back-quoted values that are not plain names, the tails of messages
    /// known to print values, and every occurrence of the given strings.
    pub(crate) fn redact(mut self, sensitive: &[&str]) -> Diagnostic {
        let mut m = strip_quoted_values(&self.message);
        for marker in VALUE_MARKERS {
            if let Some(i) = m.find(marker) {
                m.truncate(i + marker.len());
                m.push_str(" …");
            }
        }
        for s in sensitive {
            m = redact_occurrences(&m, s);
        }
        self.message = m;
        self
    }
}

/// Phrases regorus puts right before a printed value.
const VALUE_MARKERS: &[&str] = &[
    "found value:",
    "Got",
    "Error parsing",
    "does not exist in",
    "does not equal value",
    "Failed to parse JSON:",
    "could not serialize",
    "negative index:",
];

/// Replaces each `…` segment that is not a plain (dotted) name with `…`.
fn strip_quoted_values(m: &str) -> String {
    let mut out = String::with_capacity(m.len());
    let mut rest = m;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('`') {
            Some(end) => {
                let inner = &after[..end];
                if is_plain_name(inner) {
                    out.push('`');
                    out.push_str(inner);
                    out.push('`');
                } else {
                    out.push_str("`…`");
                }
                rest = &after[end + 1..];
            }
            None => {
                // An unbalanced quote: drop what follows, it may be a value.
                out.push_str("`…");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `sprintf`, `crypto.hmac.sha256`, `future.keywords.if`.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Replaces occurrences of `secret` with `<redacted>`. Short values (under
/// four characters) are only replaced as whole words, so that a one-letter
/// value does not shred the message; a whole-word match is what an echoed
/// short value looks like.
fn redact_occurrences(m: &str, secret: &str) -> String {
    if secret.is_empty() || !m.contains(secret) {
        return m.to_string();
    }
    if secret.chars().count() >= 4 {
        return m.replace(secret, "<redacted>");
    }
    let mut out = String::with_capacity(m.len());
    let mut i = 0;
    while let Some(off) = m[i..].find(secret) {
        let start = i + off;
        let end = start + secret.len();
        let before = m[..start].chars().next_back();
        let after = m[end..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        out.push_str(&m[i..start]);
        if boundary(before) && boundary(after) {
            out.push_str("<redacted>");
        } else {
            out.push_str(secret);
        }
        i = end;
    }
    out.push_str(&m[i..]);
    out
}

/// At most `max` characters of `s`, control characters shown as `�`.
fn truncate(s: &str, max: usize) -> String {
    let mut t: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        t.push('…');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\n--> authExtractor.rego:3:43\n  |\n3 | auth := {\"token\": sprintf(\"%s\", input.data.token)}\n  |                                           ^\nerror: `sprintf` expects array argument. Got `\"s3cr3t\"` instead";

    #[test]
    fn parses_position_and_message() {
        let d = Diagnostic::parse(SAMPLE);
        assert_eq!(d.position, Some((3, 43)));
        assert!(d.message.starts_with("`sprintf` expects array argument."));
    }

    #[test]
    fn redaction_drops_values() {
        let d = Diagnostic::parse(SAMPLE).redact(&[]);
        assert!(!d.message.contains("s3cr3t"), "{}", d.message);
        assert!(d.message.contains("`sprintf`"));
        let d = Diagnostic::plain("expected composite type, found value: s3cr3t").redact(&[]);
        assert!(!d.message.contains("s3cr3t"));
        let d = Diagnostic::plain("weird message with s3cr3t and ab").redact(&["s3cr3t", "ab"]);
        assert_eq!(d.message, "weird message with <redacted> and <redacted>");
        let d = Diagnostic::plain("about abc").redact(&["ab"]);
        assert_eq!(d.message, "about abc");
        let d = Diagnostic::plain("open `quote s3cr3t").redact(&[]);
        assert!(!d.message.contains("s3cr3t"));
    }

    #[test]
    fn renders_excerpt() {
        let src = "package proxy\nimport rego.v1\nauth := {\"token\": sprintf(\"%s\", input.data.token)}\n";
        let r = Diagnostic::parse(SAMPLE).redact(&[]).render(src);
        assert!(r.starts_with("line 3, column 43: `sprintf` expects array argument."));
        assert!(r.contains("(at `auth := {\"token\""));
        assert_eq!(Diagnostic::plain("x").render(src), "x");
        assert_eq!(Diagnostic::plain("a\u{0}b").render(src), "a\u{fffd}b");
    }

    #[test]
    fn parses_unpositioned_text() {
        let d = Diagnostic::parse("not a valid rule path");
        assert_eq!(d.position, None);
        assert_eq!(d.message, "not a valid rule path");
    }
}
