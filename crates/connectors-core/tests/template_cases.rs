//! The template engine against Go's own `text/template`.
//!
//! `tests/template_cases/*.json` hold the cases; their `expected` outputs and
//! `goError` messages were produced by real Go with
//! `tools/template-golden` (see its README to regenerate). Where the engine
//! deliberately differs, a case says why (`differs`) and what this engine
//! gives instead (`ours`).
//!
//! For error cases Go's wording is not copied; an error must name the same
//! template and line as Go's (and the same column where Go points at the
//! failing call), and contain the case's key phrase (`error`).

use std::path::{Path, PathBuf};

use connectors_core::template::{self, Template, TemplateError};
use serde::Deserialize;
use serde_json::{json, Value};

/// The template name a case uses unless it names one.
const DEFAULT_TEMPLATE_NAME: &str = "tpl";

#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    One(String),
    Lines(Vec<String>),
}

impl Text {
    fn joined(&self) -> String {
        match self {
            Text::One(s) => s.clone(),
            Text::Lines(lines) => lines.join("\n"),
        }
    }
}

fn empty_object() -> Value {
    json!({})
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Case {
    name: String,
    template_name: Option<String>,
    template: Text,
    #[serde(default = "empty_object")]
    data: Value,
    error: Option<String>,
    differs: Option<String>,
    ours: Option<String>,
    expected: Option<String>,
    go_error: Option<String>,
}

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/template_cases")
}

fn load_cases() -> Vec<(String, Case)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(case_dir())
        .expect("tests/template_cases exists")
        .map(|entry| entry.expect("readable directory").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable case file");
        let parsed: Vec<Case> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let label = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        cases.extend(parsed.into_iter().map(|c| (label.clone(), c)));
    }
    cases
}

/// Where Go placed an error: `template: NAME:LINE[:COL]: ...`.
struct GoPosition {
    name: String,
    line: usize,
    column: Option<usize>,
}

fn go_position(message: &str) -> Option<GoPosition> {
    let rest = message.strip_prefix("template: ")?;
    let (name, rest) = rest.split_once(':')?;
    let (line, rest) = rest.split_once(':')?;
    let line = line.parse().ok()?;
    let column = rest.split_once(':').and_then(|(c, _)| c.parse().ok());
    Some(GoPosition {
        name: name.to_owned(),
        line,
        column,
    })
}

fn check_error(case: &Case, name: &str, err: &TemplateError) -> Result<(), String> {
    let text = err.to_string();
    let phrase = case
        .error
        .as_deref()
        .ok_or("error case without an `error` key phrase")?;
    if !text.contains(phrase) {
        return Err(format!("error {text:?} lacks the phrase {phrase:?}"));
    }
    if err.template() != name {
        return Err(format!("error {text:?} does not name template {name:?}"));
    }
    let Some(go) = case.go_error.as_deref().and_then(go_position) else {
        return Ok(());
    };
    if go.name != name {
        return Err(format!("Go named template {:?}", go.name));
    }
    if err.line() != go.line {
        return Err(format!(
            "error {text:?} is on line {}, Go says {}",
            err.line(),
            go.line
        ));
    }
    if let Some(go_column) = go.column {
        // Go counts columns from 0, this engine from 1. Go points at the
        // failing command or argument; this engine may point at the start of
        // the pipeline or call holding it. Either way it must be the same
        // action, at or before Go's position.
        let go_column = go_column + 1;
        let source = case.template.joined();
        let line_text = source.split('\n').nth(go.line - 1).unwrap_or("");
        let ours = err.column();
        let same_action = ours >= 1
            && ours <= go_column
            && line_text
                .get(ours - 1..go_column - 1)
                .is_some_and(|between| !between.contains("}}"));
        if !same_action {
            return Err(format!(
                "error {text:?} is at column {ours}, Go says {go_column}"
            ));
        }
    }
    Ok(())
}

fn run_case(case: &Case) -> Result<(), String> {
    let name = case
        .template_name
        .as_deref()
        .unwrap_or(DEFAULT_TEMPLATE_NAME);
    let result = template::render(name, &case.template.joined(), &case.data);
    if case.differs.is_some() {
        return match (&case.ours, result) {
            (Some(want), Ok(got)) if *want == got => Ok(()),
            (Some(want), Ok(got)) => Err(format!("want (ours) {want:?}\n     got {got:?}")),
            (Some(_), Err(e)) => Err(format!("unexpected error: {e}")),
            (None, Err(e)) => check_error(case, name, &e),
            (None, Ok(got)) => Err(format!("expected an error, got {got:?}")),
        };
    }
    match (&case.expected, &case.go_error, result) {
        (Some(want), _, Ok(got)) if *want == got => Ok(()),
        (Some(want), _, Ok(got)) => Err(format!("want {want:?}\n     got {got:?}")),
        (Some(_), _, Err(e)) => Err(format!("unexpected error: {e}")),
        (None, Some(_), Err(e)) => check_error(case, name, &e),
        (None, Some(go), Ok(got)) => Err(format!("Go fails ({go}) but we rendered {got:?}")),
        (None, None, _) => Err("no expectation; run tools/template-golden".to_owned()),
    }
}

#[test]
fn cases_render_as_in_go() {
    let cases = load_cases();
    assert!(cases.len() >= 80, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (file, case) in &cases {
        if let Err(why) = run_case(case) {
            failures.push(format!("{file}: {}\n     {why}", case.name));
        }
    }
    for failure in &failures {
        eprintln!("FAIL {failure}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} template cases failed",
        failures.len(),
        cases.len()
    );
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<(String, String)> = load_cases()
        .into_iter()
        .map(|(file, c)| (file, c.name))
        .collect();
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "duplicate case names");
}

#[test]
fn errors_never_contain_secret_data() {
    let secrets = ["hunter2", "s3cr3t-t0k3n-value", "p@ss:word/with%stuff"];
    let data = json!({
        "token": secrets[0],
        "Secret": {"StringData": {"password": secrets[1], "address": secrets[2]}},
        "list": [secrets[0]],
    });
    let failing = [
        "{{ range .token }}{{ end }}",
        "{{ range .Secret.StringData.password }}{{ end }}",
        "{{ urlParse .Secret.StringData.address }}",
        "{{ urlParse (printf \"http://x:%s/\" .token) }}",
        "{{ lt .token 1 }}",
        "{{ index .token \"x\" }}",
        "{{ index .list 9 }}",
        "{{ index .Secret.StringData.password 99 }}",
        "{{ slice .token 1 99 }}",
        "{{ .token.field }}",
        "{{ trimSuffix 1 .token }}",
        "{{ first .token }}",
        "{{ concat .list .token }}",
        "{{ repeat -1 .token }}",
        "{{ ternary 1 2 .token }}",
        "{{ substr 30 100 .Secret.StringData.password }}",
        "{{ regexReplaceAll (printf \"(%s\" .token) \"x\" \"y\" }}",
        "{{ urlJoin (dict \"scheme\" 1 \"userinfo\" .token) }}",
        "{{ template \"x\" .token }}",
        "{{ call .token }}",
        "{{ range $i, $v := 3 }}{{ end }}",
    ];
    for text in failing {
        let err = match template::render("secret-test", text, &data) {
            Ok(out) => continue_if_ok(text, &out),
            Err(e) => e.to_string(),
        };
        for secret in secrets {
            assert!(
                !err.contains(secret),
                "error of {text:?} reveals a secret: {err}"
            );
        }
        assert!(err.contains("\"secret-test\""), "{err}");
    }
}

/// A template in the failing list that renders is a mistake in the test,
/// except for the few whose point is only that nothing leaks if they fail.
fn continue_if_ok(text: &str, out: &str) -> String {
    panic!("{text:?} was expected to fail but rendered {out:?}")
}

#[test]
fn unclosed_action_is_a_parse_error_with_position() {
    let err = Template::parse("gitconfig", "[http]\n  extraHeader = {{ .context.token\n")
        .expect_err("unclosed action must not parse");
    assert!(matches!(err, TemplateError::Parse { .. }), "{err:?}");
    assert_eq!(err.template(), "gitconfig");
    assert!(err.line() >= 2, "{err}");
    assert!(err.to_string().contains("unclosed action"), "{err}");
}

#[test]
fn unknown_function_names_template_line_and_column() {
    let err =
        Template::parse("gitconfig", "[http]\n  x = {{ nope .a }}").expect_err("unknown function");
    assert_eq!(
        err.to_string(),
        "template \"gitconfig\" line 2 col 10: function \"nope\" not defined"
    );
}

#[test]
fn huge_ranges_hit_a_limit() {
    for text in [
        "{{ range 100000000 }}x{{ end }}",
        "{{ range until 100000000 }}x{{ end }}",
        "{{ range 10000 }}{{ range 10000 }}{{ end }}{{ end }}",
        "{{ range 10000 }}{{ repeat 1000 \"x\" }}{{ end }}",
        "{{ $s := \"xx\" }}{{ range 100 }}{{ $s = print $s $s }}{{ end }}",
        "{{ repeat 100000000 \"x\" }}",
        "{{ define \"r\" }}{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}",
        "{{ define \"r\" }}{{ template \"r\" . }}{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}",
    ] {
        let started = std::time::Instant::now();
        let err = template::render("hostile", text, &json!({})).expect_err(text);
        assert!(matches!(err, TemplateError::Limit { .. }), "{text}: {err:?}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{text} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn ranging_over_large_data_is_bounded_by_the_total() {
    let big: Vec<u64> = (0..1000).collect();
    let text = "{{ range .l }}{{ range $.l }}{{ end }}{{ end }}";
    let err = template::render("t", text, &json!({"l": big})).expect_err("a million iterations");
    assert!(matches!(err, TemplateError::Limit { .. }), "{err:?}");
}

/// Deterministic pseudo-random garbage, so a failure can be reproduced.
fn garbage(seed: u64, count: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        "\n",
        ".",
        ".a",
        ".a.b",
        "$",
        "$x",
        ":=",
        "=",
        "|",
        "(",
        ")",
        "\"",
        "\"s\"",
        "`",
        "'",
        "'x'",
        "/*",
        "*/",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        "nil",
        "true",
        "1",
        "-1",
        "0x",
        "1e",
        "3.5",
        "printf",
        "\"%d\"",
        "index",
        "slice",
        "len",
        "urlParse",
        "default",
        "list",
        "dict",
        "until",
        "repeat",
        "é",
        "\\",
        ",",
        "$i, $v :=",
        "else if",
        "\u{0}",
        "}}}",
        "{{{",
        "-",
        "%",
    ];
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = (next() % 24) as usize;
            (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect()
        })
        .collect()
}

#[test]
fn garbage_templates_never_crash_the_engine() {
    let data = json!({"a": {"b": [1, "x"]}, "s": "str", "n": 2});
    let mut fixed: Vec<String> = [
        "",
        "{{",
        "}}",
        "{{}}",
        "{{-}}",
        "{{ - }}",
        "{{/*",
        "{{/* x",
        "{{ \"",
        "{{ `",
        "{{ 'x",
        "{{ (",
        "{{ ) }}",
        "{{ | }}",
        "{{ $ }}",
        "{{ $x = 1 }}",
        "{{ end }}",
        "{{ else }}",
        "{{ if }}",
        "{{ range }}",
        "{{ define }}",
        "{{ define \"a\" }}",
        "{{ template }}",
        "{{ break }}",
        "{{ continue }}",
        "{{ 1e999 }}",
        "{{ 0x }}",
        "{{ 99999999999999999999999 }}",
        "{{ '\\u{110000}' }}",
        "{{ \"\\x\" }}",
        "{{ .a.b.c.d.e }}",
        "{{ index . }}",
        "{{ slice .s 3 1 }}",
        "{{ printf \"%*d\" 1 }}",
        "{{ printf \"%[9]d\" }}",
        "{{ -}}",
        "{{ $x := 1 }}{{ $x := $x }}{{ $x.y }}",
        "{{ range $i, $v, $w := . }}{{ end }}",
        "{{ with $x := . }}{{ end }}{{ $x }}",
        "{{ nil }}",
        "{{ nil.a }}",
        "{{ .s | .a }}",
        "{{ block \"b\" }}{{ end }}",
        "{{ template \"a\" . }}{{ define \"a\" }}{{ template \"a\" }}{{ end }}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    fixed.extend(garbage(0x9E37_79B9_7F4A_7C15, 3000));
    let mut parsed = 0;
    for text in &fixed {
        let outcome = match Template::parse("garbage", text) {
            Ok(tpl) => {
                parsed += 1;
                tpl.render(&data).err()
            }
            Err(e) => Some(e),
        };
        if let Some(err) = outcome {
            let message = err.to_string();
            assert!(
                !message.contains("failed unexpectedly"),
                "the engine panicked on {text:?}"
            );
            assert!(message.starts_with("template \"garbage\""), "{message}");
        }
    }
    assert!(parsed > 0, "no garbage template parsed at all");
}

#[test]
fn a_template_renders_from_many_threads() {
    let tpl = std::sync::Arc::new(
        Template::parse("shared", "{{ .n }}-{{ .name | upper }}").expect("parses"),
    );
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let tpl = tpl.clone();
            std::thread::spawn(move || tpl.render(&json!({"n": i, "name": "x"})))
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let out = handle.join().expect("no panic").expect("renders");
        assert_eq!(out, format!("{i}-X"));
    }
}

#[test]
fn null_data_is_go_nil() {
    assert_eq!(
        template::render("t", "x", &Value::Null).expect("renders"),
        "x"
    );
    assert!(template::render("t", "{{ .a }}", &Value::Null).is_err());
}
