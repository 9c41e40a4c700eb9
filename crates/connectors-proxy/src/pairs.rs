//! `name=value` pairs joined by `&`, as in a query string or a form body:
//! setting some names while every other pair stays byte for byte.

use std::borrow::Cow;
use url::form_urlencoded;

/// `text` with every pair whose decoded name is in `names` dropped, then
/// the `set` pairs (already encoded) appended; pairs are joined by `&`.
pub(crate) fn replace(
    text: &str,
    names: impl Fn(&str) -> bool,
    set: impl Iterator<Item = String>,
) -> String {
    let kept = text
        .split('&')
        .filter(|p| !p.is_empty() && !names(&decoded_name(p)))
        .map(Cow::Borrowed);
    kept.chain(set.map(Cow::Owned))
        .collect::<Vec<_>>()
        .join("&")
}

/// The name of a pair, percent- and `+`-decoded.
fn decoded_name(pair: &str) -> String {
    let raw = pair.split_once('=').map_or(pair, |(k, _)| k);
    form_urlencoded::parse(raw.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_pairs_are_replaced_and_others_kept_as_written() {
        let out = replace(
            "a=1&to%6Ben=x&&b=%2F+y&token&c",
            |n| n == "token",
            ["token=z".to_string()].into_iter(),
        );
        assert_eq!(out, "a=1&b=%2F+y&c&token=z");
        assert_eq!(replace("", |_| true, std::iter::empty()), "");
    }
}
