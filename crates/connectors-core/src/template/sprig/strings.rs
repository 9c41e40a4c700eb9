//! Sprig's string functions. Argument order is Sprig's: the string being
//! worked on comes last, so it can be piped in (`.x | trimSuffix "/"`).
//!
//! Indices (`substr`, `trunc`) count bytes, as in Go. Where Go would cut a
//! multi-byte character in half and produce invalid UTF-8, these fail instead.

use gtmpl_ng::{Func, FuncError, Value};

use super::args;

/// The functions of this module, by template name.
pub const FUNCTIONS: &[(&str, Func)] = &[
    ("trim", trim as Func),
    ("trimAll", trim_all as Func),
    ("trimSuffix", trim_suffix as Func),
    ("trimPrefix", trim_prefix as Func),
    ("upper", upper as Func),
    ("lower", lower as Func),
    ("title", title as Func),
    ("replace", replace as Func),
    ("repeat", repeat as Func),
    ("contains", contains as Func),
    ("hasPrefix", has_prefix as Func),
    ("hasSuffix", has_suffix as Func),
    ("substr", substr as Func),
    ("trunc", trunc as Func),
    ("indent", indent as Func),
    ("nindent", nindent as Func),
    ("quote", quote as Func),
    ("squote", squote as Func),
    ("cat", cat as Func),
    ("split", split as Func),
    ("splitn", splitn as Func),
    ("splitList", split_list as Func),
    ("nospace", nospace as Func),
    ("join", join as Func),
    ("sortAlpha", sort_alpha as Func),
];

/// Refuses a result longer than a single function may produce in a render.
fn check_size(name: &str, bytes: usize) -> Result<(), FuncError> {
    match gtmpl_ng::limits::active().function_output {
        Some(limit) if bytes > limit => Err(args::fail(
            name,
            format!("the result would be {bytes} bytes, more than the {limit} allowed"),
        )),
        _ => Ok(()),
    }
}

/// One-string-in, one-string-out functions.
fn unary(name: &str, values: &[Value], f: impl Fn(&str) -> String) -> Result<Value, FuncError> {
    args::exactly(name, values, 1)?;
    Ok(Value::String(f(args::string(name, values, 0)?)))
}

/// Two-string functions whose operand is the last argument.
fn binary(
    name: &str,
    values: &[Value],
    f: impl Fn(&str, &str) -> Value,
) -> Result<Value, FuncError> {
    args::exactly(name, values, 2)?;
    let first = args::string(name, values, 0)?;
    let second = args::string(name, values, 1)?;
    Ok(f(first, second))
}

/// `trim S`: removes leading and trailing white space.
fn trim(values: &[Value]) -> Result<Value, FuncError> {
    unary("trim", values, |s| s.trim().to_owned())
}

/// `trimAll CUTSET S`: removes leading and trailing characters in CUTSET.
fn trim_all(values: &[Value]) -> Result<Value, FuncError> {
    binary("trimAll", values, |cutset, s| {
        Value::from(s.trim_matches(|c| cutset.contains(c)))
    })
}

/// `trimSuffix SUFFIX S`: removes one SUFFIX from the end of S.
fn trim_suffix(values: &[Value]) -> Result<Value, FuncError> {
    binary("trimSuffix", values, |suffix, s| {
        Value::from(s.strip_suffix(suffix).unwrap_or(s))
    })
}

/// `trimPrefix PREFIX S`: removes one PREFIX from the start of S.
fn trim_prefix(values: &[Value]) -> Result<Value, FuncError> {
    binary("trimPrefix", values, |prefix, s| {
        Value::from(s.strip_prefix(prefix).unwrap_or(s))
    })
}

/// Maps each character through a case mapping, keeping it when the mapping
/// is not one character (Go's `unicode.ToUpper` maps rune to rune).
fn map_case(s: &str, f: impl Fn(char) -> Option<char>) -> String {
    s.chars().map(|c| f(c).unwrap_or(c)).collect()
}

fn single<I: Iterator<Item = char>>(mut it: I) -> Option<char> {
    let first = it.next()?;
    match it.next() {
        None => Some(first),
        Some(_) => None,
    }
}

/// `upper S`.
fn upper(values: &[Value]) -> Result<Value, FuncError> {
    unary("upper", values, |s| {
        map_case(s, |c| single(c.to_uppercase()))
    })
}

/// `lower S`.
fn lower(values: &[Value]) -> Result<Value, FuncError> {
    unary("lower", values, |s| {
        map_case(s, |c| single(c.to_lowercase()))
    })
}

/// Go's word separator for `strings.Title`.
fn is_title_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphabetic() || c.is_numeric() {
        return false;
    }
    c.is_whitespace()
}

/// `title S`: upper-cases the first letter of each word (Go's
/// `strings.Title`).
fn title(values: &[Value]) -> Result<Value, FuncError> {
    unary("title", values, |s| {
        let mut previous = ' ';
        s.chars()
            .map(|c| {
                let out = if is_title_separator(previous) {
                    single(c.to_uppercase()).unwrap_or(c)
                } else {
                    c
                };
                previous = c;
                out
            })
            .collect()
    })
}

/// `replace OLD NEW S`: replaces every OLD in S with NEW.
fn replace(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("replace", values, 3)?;
    let old = args::string("replace", values, 0)?;
    let new = args::string("replace", values, 1)?;
    let s = args::string("replace", values, 2)?;
    let count = if old.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(old).count()
    };
    let size = s.len().saturating_add(count.saturating_mul(new.len()));
    check_size("replace", size)?;
    Ok(Value::String(s.replace(old, new)))
}

/// `repeat COUNT S`.
fn repeat(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("repeat", values, 2)?;
    let count = args::int("repeat", values, 0)?;
    let s = args::string("repeat", values, 1)?;
    let count =
        usize::try_from(count).map_err(|_| args::fail("repeat", "negative Repeat count"))?;
    check_size("repeat", count.saturating_mul(s.len()))?;
    Ok(Value::String(s.repeat(count)))
}

/// `contains SUBSTR S`.
fn contains(values: &[Value]) -> Result<Value, FuncError> {
    binary("contains", values, |sub, s| Value::Bool(s.contains(sub)))
}

/// `hasPrefix PREFIX S`.
fn has_prefix(values: &[Value]) -> Result<Value, FuncError> {
    binary("hasPrefix", values, |p, s| Value::Bool(s.starts_with(p)))
}

/// `hasSuffix SUFFIX S`.
fn has_suffix(values: &[Value]) -> Result<Value, FuncError> {
    binary("hasSuffix", values, |p, s| Value::Bool(s.ends_with(p)))
}

/// Go's `s[start:end]` on bytes, failing where Go panics or would split a
/// character.
fn byte_slice(name: &str, s: &str, start: i64, end: i64) -> Result<Value, FuncError> {
    let out_of_range = || args::fail(name, "slice bounds out of range");
    let start = usize::try_from(start).map_err(|_| out_of_range())?;
    let end = usize::try_from(end).map_err(|_| out_of_range())?;
    if start > end || end > s.len() {
        return Err(out_of_range());
    }
    s.get(start..end)
        .map(Value::from)
        .ok_or_else(|| args::fail(name, "index falls inside a multi-byte character"))
}

/// `substr START END S`: bytes START..END; a negative START means from the
/// beginning, a negative or too large END means to the end.
fn substr(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("substr", values, 3)?;
    let start = args::int("substr", values, 0)?;
    let end = args::int("substr", values, 1)?;
    let s = args::string("substr", values, 2)?;
    let len = s.len() as i64;
    if start < 0 {
        return byte_slice("substr", s, 0, end);
    }
    if end < 0 || end > len {
        return byte_slice("substr", s, start, len);
    }
    byte_slice("substr", s, start, end)
}

/// `trunc N S`: the first N bytes, or with a negative N the last -N.
fn trunc(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("trunc", values, 2)?;
    let c = args::int("trunc", values, 0)?;
    let s = args::string("trunc", values, 1)?;
    let len = s.len() as i64;
    if c < 0 && len.saturating_add(c) > 0 {
        return byte_slice("trunc", s, len + c, len);
    }
    if c >= 0 && len > c {
        return byte_slice("trunc", s, 0, c);
    }
    Ok(Value::from(s))
}

fn indented(name: &str, values: &[Value], newline: bool) -> Result<Value, FuncError> {
    args::exactly(name, values, 2)?;
    let spaces = args::int(name, values, 0)?;
    let s = args::string(name, values, 1)?;
    let spaces = usize::try_from(spaces).map_err(|_| args::fail(name, "negative Repeat count"))?;
    let lines = s.matches('\n').count() + 1;
    check_size(name, s.len().saturating_add(lines.saturating_mul(spaces)))?;
    let pad = " ".repeat(spaces);
    let mut out = String::new();
    if newline {
        out.push('\n');
    }
    out.push_str(&pad);
    out.push_str(&s.replace('\n', &format!("\n{pad}")));
    Ok(Value::String(out))
}

/// `indent N S`: indents every line of S by N spaces.
fn indent(values: &[Value]) -> Result<Value, FuncError> {
    indented("indent", values, false)
}

/// `nindent N S`: a newline, then `indent N S`.
fn nindent(values: &[Value]) -> Result<Value, FuncError> {
    indented("nindent", values, true)
}

/// Go's `%q` of a string.
pub(crate) fn go_quote(s: &str) -> String {
    go_format("%q", &Value::from(s))
}

/// One value through a Go format verb.
pub(crate) fn go_format(format: &str, value: &Value) -> String {
    match gtmpl_ng::funcs::printf(&[Value::from(format), value.clone()]) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// `quote A B ...`: each non-nil argument in double quotes, escaped as Go's
/// `%q`, joined by spaces.
fn quote(values: &[Value]) -> Result<Value, FuncError> {
    let quoted: Vec<String> = values
        .iter()
        .filter(|v| !args::is_nil(v))
        .map(|v| go_quote(&args::strval(v)))
        .collect();
    Ok(Value::String(quoted.join(" ")))
}

/// `squote A B ...`: each non-nil argument in single quotes, unescaped.
fn squote(values: &[Value]) -> Result<Value, FuncError> {
    let quoted: Vec<String> = values
        .iter()
        .filter(|v| !args::is_nil(v))
        .map(|v| format!("'{}'", go_format("%v", v)))
        .collect();
    Ok(Value::String(quoted.join(" ")))
}

/// `cat A B ...`: the non-nil arguments, formatted with `%v`, joined by
/// spaces.
fn cat(values: &[Value]) -> Result<Value, FuncError> {
    let parts: Vec<String> = values
        .iter()
        .filter(|v| !args::is_nil(v))
        .map(|v| go_format("%v", v))
        .collect();
    Ok(Value::String(parts.join(" ")))
}

/// Go's `strings.SplitN`; `n < 0` means all pieces.
pub(crate) fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<&str> = s
            .char_indices()
            .map(|(i, c)| &s[i..i + c.len_utf8()])
            .collect();
        let count = chars.len();
        let n = if n < 0 || n as usize > count {
            count
        } else {
            n as usize
        };
        let mut out: Vec<String> = chars[..n.saturating_sub(1)]
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        if n > 0 {
            let consumed: usize = out.iter().map(String::len).sum();
            out.push(s[consumed..].to_owned());
        }
        return out;
    }
    if n < 0 {
        s.split(sep).map(str::to_owned).collect()
    } else {
        s.splitn(n as usize, sep).map(str::to_owned).collect()
    }
}

/// Pieces as Sprig's `split` map: `_0`, `_1`, ...
fn numbered(pieces: Vec<String>) -> Value {
    Value::Map(
        pieces
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), Value::String(p)))
            .collect(),
    )
}

/// `split SEP S`: a map `_0`, `_1`, ... of the pieces.
fn split(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("split", values, 2)?;
    let sep = args::string("split", values, 0)?;
    let s = args::string("split", values, 1)?;
    Ok(numbered(go_split(s, sep, -1)))
}

/// `splitn SEP N S`: like `split`, at most N pieces.
fn splitn(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("splitn", values, 3)?;
    let sep = args::string("splitn", values, 0)?;
    let n = args::int("splitn", values, 1)?;
    let s = args::string("splitn", values, 2)?;
    Ok(numbered(go_split(s, sep, n)))
}

/// `splitList SEP S`: the pieces as a list.
fn split_list(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("splitList", values, 2)?;
    let sep = args::string("splitList", values, 0)?;
    let s = args::string("splitList", values, 1)?;
    Ok(Value::Array(
        go_split(s, sep, -1)
            .into_iter()
            .map(Value::String)
            .collect(),
    ))
}

/// `nospace S`: S without any white space.
fn nospace(values: &[Value]) -> Result<Value, FuncError> {
    unary("nospace", values, |s| {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    })
}

/// Sprig's `strslice`: a list's non-nil elements as strings, nil as no
/// strings, anything else as one string.
fn strslice(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter(|v| !args::is_nil(v))
            .map(args::strval)
            .collect(),
        Value::Nil | Value::NoValue => Vec::new(),
        other => vec![args::strval(other)],
    }
}

/// `join SEP LIST`: the list's non-nil elements joined by SEP.
fn join(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("join", values, 2)?;
    let sep = args::string("join", values, 0)?;
    Ok(Value::String(strslice(&values[1]).join(sep)))
}

/// `sortAlpha LIST`: the elements as strings, sorted.
fn sort_alpha(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("sortAlpha", values, 1)?;
    let mut items = match &values[0] {
        Value::Array(_) => strslice(&values[0]),
        other => vec![args::strval(other)],
    };
    items.sort();
    Ok(Value::Array(items.into_iter().map(Value::String).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_follows_go() {
        assert_eq!(go_split("a,b,c", ",", -1), ["a", "b", "c"]);
        assert_eq!(go_split("", ",", -1), [""]);
        assert_eq!(go_split("abc", "", -1), ["a", "b", "c"]);
        assert!(go_split("", "", -1).is_empty());
        assert_eq!(go_split("a,b,c", ",", 2), ["a", "b,c"]);
        assert_eq!(go_split("héllo", "", 2), ["h", "éllo"]);
        assert!(go_split("a,b", ",", 0).is_empty());
    }

    #[test]
    fn quote_escapes_like_go() {
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
    }
}
