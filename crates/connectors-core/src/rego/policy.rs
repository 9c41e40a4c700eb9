//! A compiled policy: dialect detection, checks of package and rule, and
//! concurrent evaluation.
//!
//! Evaluation clones a prepared regorus engine and evaluates the clone, so
//! every evaluation starts from the same pristine state and no lock is taken.
//! A clone shares its parsed modules with the engine it came from through
//! reference counts; when many threads clone the same engine those counts
//! bounce between CPU caches and evaluation stops scaling. So a policy keeps
//! one independently parsed engine ("replica") per CPU, built on first use,
//! and each thread clones the replica of its own slot.

use std::num::NonZeroU32;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};

use super::diagnostic::Diagnostic;
use super::error::{PolicyKind, RegoError};
use super::{crypto, references};

/// Wall-clock budget of one evaluation. Policies take microseconds; this
/// only stops a runaway policy from holding a proxy worker.
const EVAL_TIME_LIMIT: Duration = Duration::from_millis(100);
/// Interpreter work units between two clock reads.
const TIME_CHECK_INTERVAL: u32 = 64;
/// Upper bound of per-CPU replicas of one policy.
const MAX_SLOTS: usize = 64;

/// Rego syntax generation a policy was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Rego v1: `if` and `contains` required (also what `import rego.v1`
    /// selects). Tried first.
    V1,
    /// Pre-1.0 Rego: `auth = {...} { cond }`, future keywords by import.
    V0,
}

/// Why building an engine failed.
struct BuildFailure {
    /// Whether the text parsed in the dialect tried.
    parsed: bool,
    diagnostic: Diagnostic,
}

/// A policy compiled for one [`PolicyKind`].
pub(crate) struct Policy {
    kind: PolicyKind,
    label: String,
    source: String,
    dialect: Dialect,
    /// `data.<package>.<rule>`.
    entrypoint: String,
    reads_body: bool,
    /// Engine of slot 0, built by `compile`.
    primary: Engine,
    /// Engines of slots 1.., built on first use (`None` if that failed).
    replicas: Box<[OnceLock<Option<Engine>>]>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("kind", &self.kind)
            .field("label", &self.label)
            .field("dialect", &self.dialect)
            .field("entrypoint", &self.entrypoint)
            .field("reads_body", &self.reads_body)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Parses and checks `source` as a policy of `kind`: v1 syntax first,
    /// then pre-1.0 syntax. When both fail, the error of the dialect that
    /// got further is returned.
    pub(crate) fn compile(
        kind: PolicyKind,
        source: &str,
        label: &str,
    ) -> Result<Policy, RegoError> {
        let compile_error = |d: Diagnostic| RegoError::Compile {
            kind,
            label: label.to_string(),
            message: d.render(source),
        };
        let (dialect, primary) = match build(kind, source, Dialect::V1) {
            Ok(engine) => (Dialect::V1, engine),
            Err(v1) => match build(kind, source, Dialect::V0) {
                Ok(engine) => (Dialect::V0, engine),
                Err(v0) => return Err(compile_error(most_helpful(v1, v0))),
            },
        };
        let slots = slot_count();
        Ok(Policy {
            kind,
            label: label.to_string(),
            source: source.to_string(),
            dialect,
            entrypoint: entrypoint(kind),
            reads_body: references::reads_request_body(source),
            primary,
            replicas: (1..slots).map(|_| OnceLock::new()).collect(),
        })
    }

    /// Whether the policy text may read `input.request.body`.
    pub(crate) fn reads_body(&self) -> bool {
        self.reads_body
    }

    /// The dialect the policy compiled in.
    #[cfg(test)]
    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Evaluates the rule with `input`. `sensitive` lists the input strings
    /// that must not appear in an error.
    pub(crate) fn eval<'a>(
        &self,
        input: Value,
        sensitive: impl FnOnce() -> Vec<&'a str>,
    ) -> Result<Value, RegoError> {
        let mut engine = self.slot_engine().clone();
        engine.set_input(input);
        let entrypoint = self.entrypoint.clone();
        let outcome = catch_unwind(AssertUnwindSafe(move || engine.eval_rule(entrypoint)));
        let diagnostic = match outcome {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => Diagnostic::parse(&format!("{e:#}")).redact(&sensitive()),
            Err(_) => Diagnostic::plain("the Rego engine panicked while evaluating the policy"),
        };
        Err(RegoError::Eval {
            kind: self.kind,
            label: self.label.clone(),
            message: diagnostic.render(&self.source),
        })
    }

    /// A shape error about this policy's result.
    pub(crate) fn shape_error(&self, message: String) -> RegoError {
        RegoError::Shape {
            kind: self.kind,
            label: self.label.clone(),
            message,
        }
    }

    /// Whether the policy text holds `text` as a string literal (`"text"`),
    /// so that naming it in an error reveals nothing from the input.
    pub(crate) fn source_has_literal(&self, text: &str) -> bool {
        self.source.contains(&format!("\"{text}\""))
    }

    /// The rule as errors name it (`proxy.auth`).
    pub(crate) fn rule_name(&self) -> String {
        format!("{}.{}", self.kind.package(), self.kind.rule())
    }

    /// The engine of the calling thread's slot.
    fn slot_engine(&self) -> &Engine {
        let slot = home_slot() % (self.replicas.len() + 1);
        let Some(cell) = slot.checked_sub(1).and_then(|i| self.replicas.get(i)) else {
            return &self.primary;
        };
        let replica = cell.get_or_init(|| {
            catch_unwind(AssertUnwindSafe(|| {
                build(self.kind, &self.source, self.dialect).ok()
            }))
            .ok()
            .flatten()
        });
        replica.as_ref().unwrap_or(&self.primary)
    }
}

/// `data.proxy.auth`.
fn entrypoint(kind: PolicyKind) -> String {
    format!("data.{}.{}", kind.package(), kind.rule())
}

/// The file name regorus reports in its messages.
fn file_name(kind: PolicyKind) -> String {
    format!("{}.rego", kind.field_name())
}

/// Parses, checks and prepares an engine for one dialect.
fn build(kind: PolicyKind, source: &str, dialect: Dialect) -> Result<Engine, BuildFailure> {
    match catch_unwind(|| build_unguarded(kind, source, dialect)) {
        Ok(r) => r,
        Err(_) => Err(BuildFailure {
            parsed: false,
            diagnostic: Diagnostic::plain("the Rego engine panicked while compiling the policy"),
        }),
    }
}

fn build_unguarded(
    kind: PolicyKind,
    source: &str,
    dialect: Dialect,
) -> Result<Engine, BuildFailure> {
    let fail = |parsed: bool, diagnostic: Diagnostic| BuildFailure { parsed, diagnostic };
    let file = file_name(kind);
    let mut engine = Engine::new();
    engine.set_rego_v0(dialect == Dialect::V0);
    // OPA's default: a builtin given bad arguments is undefined, not an error.
    // Extractors parse client-controlled headers; junk must not become a 500.
    engine.set_strict_builtin_errors(false);
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit: EVAL_TIME_LIMIT,
        check_interval: NonZeroU32::new(TIME_CHECK_INTERVAL).unwrap_or(NonZeroU32::MIN),
    });
    crypto::register(&mut engine).map_err(|e| {
        fail(
            false,
            Diagnostic::plain(format!("cannot register builtins: {e}")),
        )
    })?;

    let package = engine
        .add_policy(file.clone(), source.to_string())
        .map_err(|e| fail(false, Diagnostic::parse(&format!("{e:#}"))))?;

    let expected = format!("data.{}", kind.package());
    if package != expected {
        let found = package.strip_prefix("data.").unwrap_or(&package);
        return Err(fail(
            true,
            Diagnostic::plain(format!(
                "the policy must declare `package {}`, not `package {found}`",
                kind.package()
            )),
        ));
    }
    let declared = engine
        .has_declared_rule_rooted_at(&file, kind.rule())
        .map_err(|e| fail(true, Diagnostic::parse(&format!("{e:#}"))))?;
    if !declared {
        return Err(fail(
            true,
            Diagnostic::plain(format!(
                "package {} defines no rule `{}`; the {kind} policy must define it",
                kind.package(),
                kind.rule()
            )),
        ));
    }
    // Checks the modules (safety, imports, rule path) and leaves the engine
    // prepared, so clones skip preparation.
    engine
        .compile_with_entrypoint(&entrypoint(kind).into())
        .map_err(|e| {
            let d = Diagnostic::parse(&format!("{e:#}"));
            if d.position.is_none() && d.message.contains("not a valid rule path") {
                // Declared, but only through parts (`auth.token := …`).
                let rule = kind.rule();
                return fail(
                    true,
                    Diagnostic::plain(format!(
                        "rule `{rule}` must be defined as a whole (`{rule} := {{…}}`), not by parts such as `{rule}.field := …`"
                    )),
                );
            }
            fail(true, d)
        })?;
    Ok(engine)
}

/// Chooses the error to show when neither dialect compiles: the dialect
/// that parsed (its error is about meaning, not syntax), else the one whose
/// parser got further, v1 on a tie.
fn most_helpful(v1: BuildFailure, v0: BuildFailure) -> Diagnostic {
    match (v1.parsed, v0.parsed) {
        (true, _) => v1.diagnostic,
        (false, true) => v0.diagnostic,
        (false, false) => {
            // v1 rejecting v0-only syntax means the author wrote v0.
            if v1.diagnostic.message.contains("keyword is required") {
                return v0.diagnostic;
            }
            match (v1.diagnostic.position, v0.diagnostic.position) {
                (Some(a), Some(b)) if b > a => v0.diagnostic,
                (None, Some(_)) => v0.diagnostic,
                _ => v1.diagnostic,
            }
        }
    }
}

/// How many engines a policy may keep: one per CPU.
fn slot_count() -> usize {
    static SLOTS: OnceLock<usize> = OnceLock::new();
    *SLOTS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_SLOTS)
    })
}

/// The calling thread's slot number, handed out round robin on first use so
/// that a runtime's worker threads land on different slots.
fn home_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static HOME: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    HOME.try_with(|h| *h).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn policy_is_send_and_sync() {
        assert_send_sync::<Policy>();
    }

    #[test]
    fn v1_first_then_v0() {
        let v1 = "package proxy\nauth := {\"token\": \"\"} if { true }\n";
        let v0 = "package proxy\nauth = {\"token\": \"\"} { true }\n";
        let fk = "package proxy\nimport future.keywords.if\nauth = {\"token\": \"\"} if { true }\n";
        let r1 = "package proxy\nimport rego.v1\nauth := {\"token\": \"\"} if { true }\n";
        for (src, dialect) in [
            (v1, Dialect::V1),
            (v0, Dialect::V0),
            (fk, Dialect::V1),
            (r1, Dialect::V1),
        ] {
            let p = Policy::compile(PolicyKind::AuthExtractor, src, "t").unwrap();
            assert_eq!(p.dialect(), dialect, "{src}");
        }
    }

    #[test]
    fn every_slot_evaluates_alike() {
        let src = "package proxy\nauth := {\"token\": input.request.method}\n";
        let p = Policy::compile(PolicyKind::AuthExtractor, src, "t").unwrap();
        let input = Value::from_json_str(r#"{"request":{"method":"GET"}}"#).unwrap();
        // Evaluate through each slot from distinct threads.
        std::thread::scope(|s| {
            for _ in 0..(p.replicas.len() + 2) {
                s.spawn(|| {
                    let v = p.eval(input.clone(), Vec::new).unwrap();
                    assert_eq!(v["token"], Value::from("GET"));
                });
            }
        });
    }

    #[test]
    fn runaway_policy_hits_time_limit() {
        let src = "package proxy\nimport rego.v1\nauth := {\"token\": sprintf(\"%d\", [count([x | some a in numbers.range(1, 2000); some b in numbers.range(1, 2000); x := a * b])])}\n";
        let p = Policy::compile(PolicyKind::AuthExtractor, src, "t").unwrap();
        let e = p.eval(Value::new_object(), Vec::new).unwrap_err();
        assert!(matches!(e, RegoError::Eval { .. }), "{e}");
        assert!(e.to_string().contains("time limit"), "{e}");
    }
}
