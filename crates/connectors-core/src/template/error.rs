//! Template errors: where (template, line, column) and what, never with a
//! value from the data.
//!
//! Three layers keep data out of messages. Our own functions (Sprig and the
//! wrapped built-ins) only ever describe an argument by its kind. Engine
//! messages known to print a value are rewritten here. And as a last guard,
//! any longer string from the data that still shows up in a message is
//! replaced by `***`.

use gtmpl_ng::{ExecError, ParseError};

use super::source::Source;

/// A template that could not be parsed or rendered.
///
/// `line` and `column` are 1-based; the column counts bytes. Both are 0 in
/// the rare case the engine cannot place the problem, and the message then
/// says so by leaving the position out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template text is not a valid template.
    #[error("{}", located(.template, *.line, *.column, .message))]
    Parse {
        /// Name of the template (or of the `define`d template) at fault.
        template: String,
        /// 1-based line.
        line: usize,
        /// 1-based byte column.
        column: usize,
        /// What is wrong, in Go's wording where it has one.
        message: String,
    },
    /// Executing the template failed (a function refused its arguments, a
    /// value could not be ranged over, ...).
    #[error("{}", located(.template, *.line, *.column, .message))]
    Render {
        /// Name of the template (or of the `define`d template) at fault.
        template: String,
        /// 1-based line.
        line: usize,
        /// 1-based byte column.
        column: usize,
        /// What went wrong; never contains data values.
        message: String,
    },
    /// The render would exceed a resource bound (iterations, output size,
    /// nesting, time); see [`super::limits`].
    #[error("{}", located(.template, *.line, *.column, .message))]
    Limit {
        /// Name of the template at fault.
        template: String,
        /// 1-based line, 0 if unknown.
        line: usize,
        /// 1-based byte column, 0 if unknown.
        column: usize,
        /// Which bound was hit.
        message: String,
    },
}

impl TemplateError {
    /// Name of the template at fault.
    pub fn template(&self) -> &str {
        match self {
            Self::Parse { template, .. }
            | Self::Render { template, .. }
            | Self::Limit { template, .. } => template,
        }
    }

    /// 1-based line, 0 if unknown.
    pub fn line(&self) -> usize {
        match self {
            Self::Parse { line, .. } | Self::Render { line, .. } | Self::Limit { line, .. } => {
                *line
            }
        }
    }

    /// 1-based byte column, 0 if unknown.
    pub fn column(&self) -> usize {
        match self {
            Self::Parse { column, .. }
            | Self::Render { column, .. }
            | Self::Limit { column, .. } => *column,
        }
    }

    /// The message without the position.
    pub fn message(&self) -> &str {
        match self {
            Self::Parse { message, .. }
            | Self::Render { message, .. }
            | Self::Limit { message, .. } => message,
        }
    }
}

/// `template "NAME" line L col C: MESSAGE`.
fn located(template: &str, line: usize, column: usize, message: &str) -> String {
    if line == 0 {
        format!("template {template:?}: {message}")
    } else {
        format!("template {template:?} line {line} col {column}: {message}")
    }
}

/// Go's wording for the parse messages that differ only in quoting.
fn parse_wording(message: String) -> String {
    if let Some(name) = message
        .strip_prefix("function ")
        .and_then(|m| m.strip_suffix(" not defined"))
    {
        return format!("function {name:?} not defined");
    }
    if let Some(name) = message.strip_prefix("undefined variable ") {
        return format!("undefined variable {name:?}");
    }
    // The engine numbers pipeline stages from 2 for the first one.
    if let Some(stage) = message
        .strip_prefix("non executable command in pipeline stage ")
        .and_then(|n| n.parse::<usize>().ok())
    {
        return format!(
            "non executable command in pipeline stage {}",
            stage.saturating_sub(1)
        );
    }
    message
}

/// Converts an engine parse error. Template text is not secret, so the
/// engine's message is kept. Errors inside a `define` are reported against
/// the template that was parsed, with its line numbers, as Go does.
pub(crate) fn from_parse(template: &str, source: &Source, error: ParseError) -> TemplateError {
    let (line, column, message) = match error {
        ParseError::WithContext(context, message) => (
            context.line,
            source.column(context.line, context.col),
            message,
        ),
        ParseError::UnexpectedEnd => {
            let (line, column) = source.end();
            (line, column, "unexpected end of template".to_owned())
        }
        other => (0, 0, other.to_string()),
    };
    TemplateError::Parse {
        template: template.to_owned(),
        line,
        column,
        message: parse_wording(message),
    }
}

/// Whether an engine message reports a resource bound.
fn is_limit(message: &str) -> bool {
    [
        " allowed",
        "this allows",
        "maximum template nesting depth",
        "did not finish within",
    ]
    .iter()
    .any(|p| message.contains(p))
}

/// Rewrites the engine messages that print a value, and puts the others
/// in Go's wording.
fn without_values(message: String) -> String {
    if message.starts_with("range can't iterate over ") {
        return "range can't iterate over this value; range takes a list, a map or an integer"
            .to_owned();
    }
    if message.ends_with(" overflows int") {
        return "range count overflows int".to_owned();
    }
    if message.starts_with("can't use ")
        && message.ends_with(" to iterate over more than one variable")
    {
        return "can't use an integer to iterate over more than one variable".to_owned();
    }
    if message.starts_with("no field `") {
        return "no such field".to_owned();
    }
    if let Some(name) = message
        .strip_prefix("template ")
        .and_then(|m| m.strip_suffix(" not defined"))
    {
        return format!("template {name:?} not defined");
    }
    if message == "only maps and objects have fields" {
        return "can't evaluate a field of a value that is not a map".to_owned();
    }
    message
}

/// Strings of the data long enough to be worth hiding: tokens, passwords,
/// keys. (Short strings would also match ordinary words of the message.)
pub(crate) fn secrets_of(data: &serde_json::Value) -> Vec<String> {
    const MIN_LEN: usize = 8;
    fn walk(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(s) if s.len() >= MIN_LEN => out.push(s.clone()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(entries) => entries.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(data, &mut out);
    // Longest first, so a secret containing another is hidden whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

fn redact(mut message: String, secrets: &[String]) -> String {
    for secret in secrets {
        if message.contains(secret.as_str()) {
            message = message.replace(secret.as_str(), "***");
        }
    }
    message
}

/// Converts an engine execution error. The message says which `define`d
/// template was executing and quotes the failing construct from the
/// template text, as Go's does (`executing "inner" at <urlParse .u>: ...`).
pub(crate) fn from_exec(
    template: &str,
    source: &Source,
    error: ExecError,
    data: &serde_json::Value,
) -> TemplateError {
    let limit_variant = matches!(
        error,
        ExecError::MaxTemplateDepth { .. }
            | ExecError::RangeTooLong { .. }
            | ExecError::TooManyIterations { .. }
            | ExecError::OutputTooLarge { .. }
            | ExecError::ValueTooLarge { .. }
            | ExecError::ValueTooDeep { .. }
            | ExecError::DeadlineExceeded { .. }
    );
    let (context, message) = match error {
        ExecError::Structured(s) => (Some(s.context), s.message),
        other => (None, other.to_string()),
    };
    let message = redact(without_values(message), &secrets_of(data));
    let (line, column, message) = match context {
        Some(context) => {
            let mut prefix = String::new();
            if !context.name.is_empty() && context.name != template {
                prefix = format!("executing {:?} ", context.name);
            }
            if let Some(snippet) = source.snippet(context.line, context.col, context.len) {
                prefix.push_str(&format!("at <{snippet}>"));
            }
            let message = if prefix.is_empty() {
                message
            } else {
                format!("{}: {message}", prefix.trim_end())
            };
            (
                context.line,
                source.column(context.line, context.col),
                message,
            )
        }
        None => (0, 0, message),
    };
    let template = template.to_owned();
    if limit_variant || is_limit(&message) {
        TemplateError::Limit {
            template,
            line,
            column,
            message,
        }
    } else {
        TemplateError::Render {
            template,
            line,
            column,
            message,
        }
    }
}

/// The error for a panic inside the engine, which should not happen but must
/// not take the process down with it.
pub(crate) fn engine_failure(template: &str, parsing: bool) -> TemplateError {
    let message = "the template engine failed unexpectedly on this template".to_owned();
    if parsing {
        TemplateError::Parse {
            template: template.to_owned(),
            line: 0,
            column: 0,
            message,
        }
    } else {
        TemplateError::Render {
            template: template.to_owned(),
            line: 0,
            column: 0,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_template_line_and_column() {
        let e = TemplateError::Parse {
            template: "gitconfig".into(),
            line: 3,
            column: 14,
            message: "function \"nope\" not defined".into(),
        };
        assert_eq!(
            e.to_string(),
            "template \"gitconfig\" line 3 col 14: function \"nope\" not defined"
        );
    }

    #[test]
    fn value_bearing_messages_are_rewritten_and_redacted() {
        let m = without_values("range can't iterate over hunter2".into());
        assert!(!m.contains("hunter2"));
        let secrets = secrets_of(&serde_json::json!({"a": ["0123456789abcdef"]}));
        assert_eq!(redact("x 0123456789abcdef y".into(), &secrets), "x *** y");
    }
}
