//! The underlying Go-template engine (`gtmpl-ng`), set up with our function
//! map and limits. Nothing outside this module and [`super::error`] names
//! the engine's types, so it can be replaced.

use std::panic::{catch_unwind, AssertUnwindSafe};

use gtmpl_ng::{Context, Func};

use super::error::{self, TemplateError};
use super::source::Source;
use super::{builtins, limits, sprig, value};

/// A parsed template, ready to render any number of times.
pub(crate) struct Engine {
    inner: gtmpl_ng::Template,
    source: Source,
}

/// The whole function map: Go's built-ins (some replaced by safer
/// versions), then Sprig's.
fn functions() -> Vec<(&'static str, Func)> {
    builtins::FUNCTIONS
        .iter()
        .copied()
        .chain(sprig::functions())
        .collect()
}

impl Engine {
    /// Parses `text` as template `name`. Unknown functions are refused here,
    /// as in Go.
    pub(crate) fn parse(name: &str, text: &str) -> Result<Engine, TemplateError> {
        let mut inner = gtmpl_ng::Template::with_limits(limits::engine_limits());
        inner.name = name.to_owned();
        inner.add_funcs(&functions());
        let source = Source::new(text);
        if let Some(bad) = source.invalid_literal() {
            return Err(TemplateError::Parse {
                template: name.to_owned(),
                line: bad.line,
                column: bad.column,
                message: bad.reason.to_owned(),
            });
        }
        match catch_unwind(AssertUnwindSafe(|| inner.parse(source.engine_text()))) {
            Ok(Ok(())) => Ok(Engine { inner, source }),
            Ok(Err(e)) => Err(error::from_parse(name, &source, e)),
            Err(_) => Err(error::engine_failure(name, true)),
        }
    }

    /// Renders with `data` as dot.
    pub(crate) fn render(&self, data: &serde_json::Value) -> Result<String, TemplateError> {
        let context = Context::from(value::from_json(data));
        match catch_unwind(AssertUnwindSafe(|| self.inner.render(&context))) {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(e)) => Err(error::from_exec(&self.inner.name, &self.source, e, data)),
            Err(_) => Err(error::engine_failure(&self.inner.name, false)),
        }
    }
}
