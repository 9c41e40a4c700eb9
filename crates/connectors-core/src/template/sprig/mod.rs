//! The Sprig functions templates may use, written for this engine.
//!
//! Argument order and semantics are Sprig's (v3), which sometimes differ
//! from Go's built-ins and from intuition: the operand comes last so it can
//! be piped (`.x | trimSuffix "/"`), `quote` quotes each argument with `%q`,
//! `default` treats every empty value as unset. Each module lists its
//! functions in a `FUNCTIONS` table of plain function pointers, which is
//! what the engine accepts.
//!
//! Errors name the function and the kind of a bad argument, never its value.

mod args;
mod conversions;
mod defaults;
mod dicts;
mod encoding;
mod json;
mod lists;
mod math;
mod net_url;
mod regexp;
mod strings;
mod url;

pub(crate) use args::kind;

use gtmpl_ng::Func;

/// Every Sprig function, by template name.
pub fn functions() -> impl Iterator<Item = (&'static str, Func)> {
    [
        defaults::FUNCTIONS,
        strings::FUNCTIONS,
        lists::FUNCTIONS,
        dicts::FUNCTIONS,
        encoding::FUNCTIONS,
        regexp::FUNCTIONS,
        conversions::FUNCTIONS,
        math::FUNCTIONS,
        url::FUNCTIONS,
    ]
    .into_iter()
    .flatten()
    .copied()
}
