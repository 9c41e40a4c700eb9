//! Sprig's regular-expression functions (Go's `regexp`): `regexMatch`, `regexReplaceAll`.
//!
//! The syntax is RE2's, as in Go. One difference remains: the Perl classes
//! `\d`, `\w`, `\s` and `\b` match Unicode characters here and only ASCII in
//! Go; spell out `[0-9]` where non-ASCII input matters.

use gtmpl_ng::{Func, FuncError, Value};
use regex::Regex;

use super::args;

/// The functions of this module, by template name.
pub const FUNCTIONS: &[(&str, Func)] = &[
    ("regexMatch", regex_match as Func),
    ("regexReplaceAll", regex_replace_all as Func),
];

/// `regexMatch REGEX S`: whether REGEX matches anywhere in S; false for an
/// invalid REGEX.
fn regex_match(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("regexMatch", values, 2)?;
    let pattern = args::string("regexMatch", values, 0)?;
    let s = args::string("regexMatch", values, 1)?;
    Ok(Value::Bool(
        Regex::new(pattern).is_ok_and(|re| re.is_match(s)),
    ))
}

/// `regexReplaceAll REGEX S REPLACEMENT`: every match replaced; `$1`,
/// `${name}` in REPLACEMENT expand to submatches. An invalid REGEX fails.
fn regex_replace_all(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("regexReplaceAll", values, 3)?;
    let pattern = args::string("regexReplaceAll", values, 0)?;
    let s = args::string("regexReplaceAll", values, 1)?;
    let replacement = args::string("regexReplaceAll", values, 2)?;
    let re = Regex::new(pattern)
        .map_err(|_| args::fail("regexReplaceAll", "the regular expression does not compile"))?;
    Ok(Value::String(re.replace_all(s, replacement).into_owned()))
}
