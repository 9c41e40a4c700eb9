//! Measures per-request policy evaluation, against a baseline measured in
//! the same run: one prepared regorus engine shared by all threads and
//! cloned per evaluation, with the input built through `serde_json`.
//!
//! Run with `cargo run --release -p connectors-core --example rego_eval`.
//! Prints microseconds per evaluation and ratios; asserts nothing.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use connectors_core::rego::{CredentialGenerator, PermissionMapper, RequestInput, TokenExtractor};

const EXTRACTOR: &str = r#"package proxy

default auth := {"token": ""}

auth := {"token": token} if {
  token := input.request.headers["Private-Token"][0]
  token != ""
}
"#;

const GENERATOR: &str = r#"package proxy
import future.keywords.if
git_request if {
  some suffix in ["/info/refs", "/git-upload-pack", "/git-receive-pack"]
  endswith(input.request.path, suffix)
}
auth := {"position": "header", "auth": {"Authorization": concat(" ", ["Basic", base64.encode(concat(":", ["oauth2", input.data.token]))])}} if git_request
auth := {"position": "header", "auth": {"Private-Token": input.data.token}} if not git_request
"#;

const PERMISSIONS: &str = r#"package permissions
import rego.v1
default result := {"verb": ""}
result := {"verb": "read"} if {
  input.request.method == "POST"
  endswith(input.request.path, "/git-upload-pack")
}
"#;

const HEADERS: [(&str, &str); 6] = [
    ("host", "c-gitlab.team.connectors.example"),
    ("user-agent", "glab/1.40"),
    ("accept", "application/json"),
    ("accept-encoding", "gzip"),
    (
        "private-token",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.payload.signature",
    ),
    ("x-request-id", "7f1c2a"),
];

fn request() -> RequestInput {
    RequestInput::from_parts(
        "GET",
        "c-gitlab.team.connectors.example",
        "/api/v4/projects?per_page=100&page=2",
        HEADERS,
        None,
    )
}

/// The baseline: the request as JSON, converted, evaluated on a clone of
/// one shared prepared engine.
struct Baseline {
    engine: regorus::Engine,
}

impl Baseline {
    fn new() -> Baseline {
        let mut engine = regorus::Engine::new();
        engine
            .add_policy("x.rego".into(), EXTRACTOR.into())
            .expect("baseline policy parses");
        engine.set_input(regorus::Value::new_object());
        engine
            .eval_rule("data.proxy.auth".into())
            .expect("baseline policy evaluates");
        Baseline { engine }
    }

    fn extract(&self, req: &RequestInput) -> Option<String> {
        let json = serde_json::json!({"request": {
            "method": req.method, "path": req.path, "host": req.host,
            "headers": req.headers, "query": req.query, "body": req.body,
        }});
        let mut e = self.engine.clone();
        e.set_input(regorus::Value::from(json));
        let v = e.eval_rule("data.proxy.auth".into()).ok()?;
        v["token"].as_string().ok().map(|s| s.to_string())
    }
}

/// Wall-clock microseconds per call of `f`, with `threads` threads making
/// `per_thread` calls each.
fn per_call(threads: usize, per_thread: usize, f: &(dyn Fn() + Sync)) -> f64 {
    // Warm up (builds per-thread engine replicas).
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| (0..100).for_each(|_| f()));
        }
    });
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| (0..per_thread).for_each(|_| f()));
        }
    });
    start.elapsed().as_secs_f64() * 1e6 / (threads * per_thread) as f64
}

fn main() {
    let n = 20_000;
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let req = request();
    let extractor = TokenExtractor::compile(EXTRACTOR, "class bench").expect("compiles");
    let generator = CredentialGenerator::compile(GENERATOR, "class bench").expect("compiles");
    let mapper = PermissionMapper::compile(PERMISSIONS, "class bench").expect("compiles");
    let baseline = Baseline::new();
    let data: BTreeMap<String, String> = [(
        "token".to_string(),
        "glpat-xxxxxxxxxxxxxxxxxxxx".to_string(),
    )]
    .into();
    assert_eq!(
        extractor.extract(&req).ok().flatten(),
        baseline.extract(&req)
    );

    println!("cpus: {cpus}");
    let build = per_call(1, n, &|| {
        black_box(request());
    });
    println!("RequestInput::from_parts (6 headers, 2 query params): {build:.2} us");
    let compile = {
        let start = Instant::now();
        for _ in 0..50 {
            black_box(TokenExtractor::compile(EXTRACTOR, "class bench").ok());
        }
        start.elapsed().as_secs_f64() * 1e6 / 50.0
    };
    println!("TokenExtractor::compile: {compile:.1} us");

    for threads in [1, cpus, cpus * 4] {
        let ours = per_call(threads, n, &|| {
            black_box(extractor.extract(&req).ok());
        });
        let base = per_call(threads, n, &|| {
            black_box(baseline.extract(&req));
        });
        println!(
            "extractor, {threads:>2} threads: {ours:.2} us/eval (wall, all threads); baseline {base:.2} us/eval; baseline/ours = {:.2}",
            base / ours
        );
    }
    let generator_us = per_call(1, n, &|| {
        black_box(generator.generate(&data, &req).ok());
    });
    println!("generator (gitlab, path-aware), 1 thread: {generator_us:.2} us/eval");
    let mapper_us = per_call(1, n, &|| {
        black_box(mapper.verb(&req).ok());
    });
    println!("permissions, 1 thread: {mapper_us:.2} us/eval");
}
