//! Which parts of `input` a policy text refers to, found by scanning its
//! tokens. Used to decide whether the proxy must buffer request bodies.
//!
//! The answer errs on the side of "yes": any use of `input` or
//! `input.request` that is not followed by a fixed field name (passing
//! `input` to a function, indexing it with a variable) counts as reading the
//! body.

/// A token of Rego text, as far as this scan cares.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token<'a> {
    Ident(&'a str),
    /// A string literal's raw content (escapes not interpreted).
    Str(&'a str),
    Punct(char),
}

/// Splits policy text into identifiers, string literals and punctuation,
/// skipping white space, comments and numbers.
fn tokens(src: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                let start = i + 1;
                let mut end = src.len();
                let mut escaped = false;
                for (j, c) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' || c == '\n' {
                        end = j;
                        break;
                    }
                }
                out.push(Token::Str(&src[start..end]));
            }
            '`' => {
                let start = i + 1;
                let mut end = src.len();
                for (j, c) in chars.by_ref() {
                    if c == '`' {
                        end = j;
                        break;
                    }
                }
                out.push(Token::Str(&src[start..end]));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Ident(&src[i..end]));
            }
            c if c.is_ascii_digit() => {
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '.' || d == '_' {
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
            c if c.is_whitespace() => {}
            c => out.push(Token::Punct(c)),
        }
    }
    out
}

/// One step of a reference after `input`.
enum Step<'a> {
    /// `.name` or `["name"]`.
    Field(&'a str),
    /// `[expr]` with anything but a plain string literal.
    Dynamic,
    /// The reference ends here.
    End,
}

/// The step starting at `toks[at]`, and where the next one starts.
fn step<'a>(toks: &[Token<'a>], at: usize) -> (Step<'a>, usize) {
    match (toks.get(at), toks.get(at + 1), toks.get(at + 2)) {
        (Some(Token::Punct('.')), Some(Token::Ident(name)), _) => (Step::Field(name), at + 2),
        (Some(Token::Punct('[')), Some(Token::Str(name)), Some(Token::Punct(']')))
            if !name.contains('\\') =>
        {
            (Step::Field(name), at + 3)
        }
        (Some(Token::Punct('[')), _, _) => (Step::Dynamic, at + 1),
        _ => (Step::End, at),
    }
}

/// Whether the policy may read `input.request.body`.
pub(crate) fn reads_request_body(src: &str) -> bool {
    let toks = tokens(src);
    for (i, t) in toks.iter().enumerate() {
        if *t != Token::Ident("input") {
            continue;
        }
        // `x.input` is a field named input, not the input document.
        if i > 0 && toks[i - 1] == Token::Punct('.') {
            continue;
        }
        let (first, next) = step(&toks, i + 1);
        match first {
            Step::End | Step::Dynamic => return true,
            Step::Field("request") => {}
            Step::Field(_) => continue,
        }
        match step(&toks, next).0 {
            Step::End | Step::Dynamic | Step::Field("body") => return true,
            Step::Field(_) => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::reads_request_body as reads;

    #[test]
    fn direct_references() {
        assert!(reads("x := input.request.body.token"));
        assert!(reads("x := input.request[\"body\"].token"));
        assert!(reads("x := input [ \"request\" ] . body"));
        assert!(reads("import input.request.body as b"));
        assert!(!reads("x := input.request.headers[\"Private-Token\"][0]"));
        assert!(!reads("x := input.data.token\ny := input.request.path"));
    }

    #[test]
    fn whole_documents_count() {
        assert!(reads("x := json.marshal(input)"));
        assert!(reads("x := object.get(input.request, \"body\", null)"));
        assert!(reads("x := input.request[k]"));
        assert!(reads("x := input[k]"));
        assert!(reads("import input.request"));
        assert!(reads("x := input.request\n"));
    }

    #[test]
    fn comments_strings_and_fields_do_not_count() {
        assert!(!reads("# uses input.request.body\nx := 1"));
        assert!(!reads("x := \"input.request.body\""));
        assert!(!reads("x := `input.request.body`"));
        assert!(!reads("x := data.input.request.body"));
        assert!(!reads("x := input.request.bodyless"));
        assert!(!reads(""));
    }

    #[test]
    fn odd_text_does_not_panic() {
        for s in [
            "\"unterminated",
            "`raw",
            "input.",
            "input[",
            "input.request[",
            "ü input ü",
            "1.5e3 input.request.path",
        ] {
            let _ = reads(s);
        }
        assert!(reads("input."));
    }
}
