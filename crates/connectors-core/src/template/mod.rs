//! Go `text/template` templates with Sprig functions, rendering the client
//! configuration files and probe paths that ConnectorClasses describe.
//!
//! Class templates come from the original Go system, so the output must be
//! byte-for-byte what Go's `text/template` plus Sprig would write. The test
//! corpus in `tests/template_cases/` holds expectations produced by real Go
//! (`tools/template-golden/`).
//!
//! # Data
//!
//! Data arrives as JSON and behaves as it does in Go after
//! `json.Unmarshal` into `map[string]any`:
//!
//! - objects are maps: a missing key is "no value" — falsy, printed as
//!   `<no value>`, `index` on it gives no value — never an error;
//! - `null` is nil;
//! - numbers are float64: `{{ .n }}` prints `3` for 3 and `1e+06` for a
//!   million, `printf "%d"` refuses them, `add`/`int` convert them.
//!
//! # Functions
//!
//! Go's built-ins: `and or not eq ne lt le gt ge len index slice print
//! printf println urlquery html js call`. Sprig (argument order as Sprig):
//! `default empty coalesce ternary`; `trim trimAll trimSuffix trimPrefix
//! upper lower title replace repeat contains hasPrefix hasSuffix substr trunc
//! indent nindent quote squote cat split splitn splitList nospace join
//! sortAlpha`; `list first last rest initial append push prepend concat
//! uniq has without compact reverse until`; `dict get set unset hasKey keys
//! values pick omit merge`; `toJson toPrettyJson fromJson b64enc b64dec`;
//! `regexMatch regexReplaceAll`; `toString int atoi`; `add sub mul div mod
//! max min`; `urlParse urlJoin`.
//!
//! Known differences from Go + Sprig, none of which class templates rely on
//! (those Go can show are pinned by cases in
//! `tests/template_cases/differences.json`):
//!
//! - `eq`/`lt`/... compare values of different kinds (`eq .port 443` with a
//!   JSON number) instead of failing;
//! - a whole float *literal* (`{{ 1e6 }}`) is an integer, so it prints
//!   `1000000` where Go prints `1e+06`, and `printf "%f" 3` formats instead
//!   of marking the verb (data numbers are float64 as in Go);
//! - `{{ else with }}` (Go 1.23) is not supported; nest a `with` in `else`;
//! - `set`, `unset` and `merge` return the changed dictionary but do not
//!   change the one passed in; `keys`/`values` come in key order where
//!   Sprig's order is random;
//! - `slice` is Go's built-in, not Sprig's list-only replacement;
//! - output Go would write as invalid UTF-8 (a byte index inside a
//!   character, `b64dec` of binary data, `"\xff"`) fails instead;
//! - regular expressions treat `\d`, `\w`, `\s` as Unicode classes.
//!
//! # Errors
//!
//! Every [`TemplateError`] names the template, line and column, and never
//! contains a value from the data: failing functions report their name and
//! the kind of a wrong argument.
//!
//! # Limits
//!
//! Renders are bounded in iterations, output size, value size and time
//! ([`limits`]), so a hostile template fails instead of hanging or
//! exhausting memory.
//!
//! # Concurrency
//!
//! [`Template`] is `Send + Sync`: parse once, then render from any number
//! of tasks or threads at the same time through `&self`. A render is
//! synchronous and CPU-bound (bounded by [`limits::RENDER_TIME`]); call it
//! from async code directly for the small templates of classes, or move it
//! to `spawn_blocking` when templates are untrusted and latency matters.

mod builtins;
mod engine;
mod error;
pub mod limits;
mod source;
mod sprig;
mod value;

pub use error::TemplateError;

/// A parsed template, with its name.
pub struct Template {
    name: String,
    engine: engine::Engine,
}

impl Template {
    /// Parses `text` as the template called `name` (the name appears in
    /// errors). `{{ define }}`d templates in the text become available to
    /// `{{ template }}`. Unknown functions and malformed actions are refused
    /// here.
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        Ok(Template {
            name: name.to_owned(),
            engine: engine::Engine::parse(name, text)?,
        })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renders the template with `data` as dot (and `$`).
    pub fn render(&self, data: &serde_json::Value) -> Result<String, TemplateError> {
        self.engine.render(data)
    }
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .finish()
    }
}

/// Parses and renders in one step.
pub fn render(name: &str, text: &str, data: &serde_json::Value) -> Result<String, TemplateError> {
    Template::parse(name, text)?.render(data)
}

/// `Template` is shared between tasks; this fails to compile if it stops
/// being `Send + Sync`.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Template>();
};
