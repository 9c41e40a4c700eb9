//! Arbitrary policy text and arbitrary inputs: compiling and evaluating
//! returns results or errors, never panics, and errors never echo input.

use std::collections::BTreeMap;

use connectors_core::rego::{CredentialGenerator, PermissionMapper, RequestInput, TokenExtractor};

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const FRAGMENTS: &[&str] = &[
    "package proxy\n",
    "package permissions\n",
    "import rego.v1\n",
    "import future.keywords.if\n",
    "default auth := {\"token\": \"\"}\n",
    "default auth = {\"token\": \"\"}\n",
    "auth := ",
    "auth = ",
    "result := ",
    "{\"token\": ",
    "{\"position\": \"header\", \"auth\": {\"X\": ",
    "{\"verb\": ",
    "input.request.headers[\"Private-Token\"][0]",
    "input.request.body",
    "input.data.token",
    "input.request.query.q",
    "concat(\" \", [\"Bearer\", input.data.token])",
    "base64.encode(input.data.token)",
    "crypto.hmac.sha256(input.data.token, \"k\")",
    "count(input.request.path)",
    "sprintf(\"%v\", [input])",
    "object.get(input, \"x\", null)",
    "[x | some x in input.request.headers]",
    "}",
    "{",
    "]",
    "[",
    "(",
    ")",
    " if ",
    " { ",
    " }\n",
    " else := ",
    "\"\"",
    "\"read\"",
    "1 / 0",
    "null",
    "true",
    " + 1",
    "\n",
    "; ",
    " == ",
    " != ",
    "not ",
    "some t in ",
    "# comment\n",
    "\u{0}",
    "é",
    "`raw`",
];

const VALUES: &[&str] = &[
    "{\"token\": input.request.headers[\"Private-Token\"][0]}",
    "{\"token\": input.request.body.token}",
    "{\"token\": input.request.body}",
    "{\"token\": concat(\"\", [input.request.query.q[0], \"x\"])}",
    "{\"position\": \"header\", \"auth\": {\"X\": input.data.token}}",
    "{\"position\": input.data.token, \"auth\": {\"X\": \"y\"}}",
    "{\"auth\": {input.data.token: input.data.token}}",
    "{\"auth\": {\"X\": crypto.hmac.sha256(input.data.token, \"k\")}}",
    "{\"auth\": {\"X\": base64.encode(input.request.headers[\"X-Token\"][0])}}",
    "{\"verb\": input.request.method}",
    "{\"verb\": \"read\"}",
    "input.data.token",
    "input.request.headers",
    "count(input.request.path) + input.data.token",
    "sprintf(\"%v\", [input])",
    "object.get(input, [\"request\", \"body\", \"token\"], null)",
    "[x | some x in input.request.headers]",
];

const CONDITIONS: &[&str] = &[
    "",
    " if { input.request.method == \"POST\" }",
    " if { startswith(input.request.path, \"/a\") }",
    " if { input.data.oauth_token != \"\" }",
    " if { 1 / 0 }",
    " { true }",
];

fn random_policy(rng: &mut Rng) -> String {
    let mut src = String::new();
    src.push_str(rng.pick(&[
        "package proxy\n",
        "package permissions\n",
        "package proxy\n",
        "",
    ]));
    src.push_str(rng.pick(&["", "import rego.v1\n", "import future.keywords.if\n"]));
    src.push_str(rng.pick(&[
        "",
        "default auth := {\"token\": \"\"}\n",
        "default result = {\"verb\": \"\"}\n",
    ]));
    for _ in 0..(1 + rng.next() % 2) {
        src.push_str(rng.pick(&["auth := ", "auth = ", "result := "]));
        src.push_str(rng.pick(VALUES));
        src.push_str(rng.pick(CONDITIONS));
        src.push('\n');
    }
    // Some noise, sometimes.
    for _ in 0..(rng.next() % 3) {
        let at = (rng.next() as usize) % (src.len() + 1);
        if src.is_char_boundary(at) {
            src.insert_str(at, rng.pick(FRAGMENTS));
        }
    }
    src
}

const SECRETS: &[&str] = &["S3cr3t-Alpha", "T0ken-Bravo", "query-Charlie", "body-Delta"];

fn request(rng: &mut Rng) -> RequestInput {
    let bodies = [
        None,
        Some(serde_json::json!(null)),
        Some(serde_json::json!({"token": SECRETS[3], "n": 1.5e300})),
        Some(serde_json::json!([SECRETS[3], {"a": [true, null]}])),
        Some(serde_json::json!(SECRETS[3])),
    ];
    let body = bodies[(rng.next() % bodies.len() as u64) as usize].clone();
    RequestInput::from_parts(
        rng.pick(&["GET", "POST", "", "DELETE"]),
        rng.pick(&["h", "", "ü:1"]),
        rng.pick(&[
            "/",
            "",
            "/a/git-upload-pack?q=query-Charlie",
            "/%ZZ?%&&=&q",
            "?q=query-Charlie",
        ]),
        [
            ("private-token", SECRETS[1]),
            (rng.pick(&["x-token", "bad name", ""]), SECRETS[1]),
        ],
        body,
    )
}

fn assert_clean(text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "secret in error: {text}");
    }
}

#[test]
fn random_policies_and_inputs() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let data: BTreeMap<String, String> = [
        ("token".to_string(), SECRETS[0].to_string()),
        ("oauth_token".to_string(), String::new()),
    ]
    .into();
    let mut compiled = 0;
    for _ in 0..600 {
        let src = random_policy(&mut rng);
        let req = request(&mut rng);
        match TokenExtractor::compile(&src, "class fuzz") {
            Ok(x) => {
                compiled += 1;
                if let Err(e) = x.extract(&req) {
                    assert_clean(&e.to_string());
                }
            }
            Err(e) => assert_clean(&e.to_string()),
        }
        if let Ok(g) = CredentialGenerator::compile(&src, "class fuzz") {
            match g.generate(&data, &req) {
                Err(e) => assert_clean(&e.to_string()),
                Ok(Some(i)) => assert_clean(&format!("{i:?}")),
                Ok(None) => {}
            }
        }
        if let Ok(m) = PermissionMapper::compile(&src, "class fuzz") {
            if let Err(e) = m.verb(&req) {
                assert_clean(&e.to_string());
            }
        }
    }
    // The generator produces some valid policies, not only noise.
    assert!(compiled > 0);
}
