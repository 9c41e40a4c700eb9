//! Whole-set validation of manifests.

use connectors_core::inventory::Inventory;

fn findings(yaml: &str) -> Vec<String> {
    let mut inv = Inventory::with_builtins();
    inv.add_manifest("m.yaml", yaml);
    inv.validate().into_iter().map(|f| f.to_string()).collect()
}

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: team-a}\ntype: kubernetes.io/basic-auth\nstringData: {username: alice, password: s3cret}\n";

fn connector(spec: &str) -> String {
    format!("apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {{name: demo, namespace: team-a}}\nspec:\n{spec}")
}

#[test]
fn a_good_set_has_no_findings() {
    let yaml = format!(
        "{SECRET}---\n{}",
        connector("  connectorClassName: git\n  address: https://git.example.com\n  auth:\n    name: basicAuth\n    secretRef: {name: creds}\n    params: [{name: repository, value: org/repo.git}]\n")
    );
    assert_eq!(findings(&yaml), Vec::<String>::new());
}

#[test]
fn each_problem_is_one_line_with_file_document_and_object() {
    let yaml = format!(
        "{SECRET}---\n{}",
        connector("  connectorClassName: git\n  address: not-a-url\n  auth:\n    name: tokenAuth\n    secretRef: {name: creds}\n")
    );
    let f = findings(&yaml);
    assert!(
        f.iter().any(|l| l.starts_with("m.yaml: document 1: Connector team-a/demo: spec.address \"not-a-url\" is not an absolute URL")),
        "{f:#?}"
    );
    assert!(
        f.iter().any(|l| l.contains("spec.auth.name \"tokenAuth\" is not an auth type of class \"git\"; use one of: basicAuth")),
        "{f:#?}"
    );
    assert!(f.iter().all(|l| !l.contains('\n')));
}

#[test]
fn secret_type_keys_and_existence() {
    let wrong_type = SECRET.replace(
        "kubernetes.io/basic-auth",
        "connectors.cpaas.io/bearer-token",
    );
    let spec = "  connectorClassName: git\n  address: https://g.example\n  auth:\n    name: basicAuth\n    secretRef: {name: creds}\n    params: [{name: repository, value: r.git}]\n";
    let f = findings(&format!("{wrong_type}---\n{}", connector(spec)));
    assert!(f.iter().any(|l| l.contains("has type \"connectors.cpaas.io/bearer-token\" but auth type \"basicAuth\" needs \"kubernetes.io/basic-auth\"")), "{f:#?}");

    let missing_key = SECRET.replace("username: alice, ", "");
    let f = findings(&format!("{missing_key}---\n{}", connector(spec)));
    assert!(
        f.iter().any(|l| l.contains("lacks key(s) username")),
        "{f:#?}"
    );
    assert!(f.iter().all(|l| !l.contains("s3cret")), "{f:#?}");

    let f = findings(&connector(spec));
    assert!(
        f.iter()
            .any(|l| l.contains("secrets \"creds\" not found in namespace \"team-a\"")),
        "{f:#?}"
    );
}

#[test]
fn optional_auth_needs_no_secret_but_required_auth_does() {
    let git = connector("  connectorClassName: git\n  address: https://g.example\n  auth:\n    name: basicAuth\n    params: [{name: repository, value: r.git}]\n");
    assert_eq!(findings(&git), Vec::<String>::new());
    let k8s = connector("  connectorClassName: k8s\n  address: https://10.0.0.1:6443\n  auth:\n    name: bearerTokenAuth\n");
    let f = findings(&k8s);
    assert!(
        f.iter()
            .any(|l| l.contains("spec.auth.secretRef is required")),
        "{f:#?}"
    );
}

#[test]
fn missing_class_bad_name_and_probe_params() {
    let f = findings(&connector(
        "  connectorClassName: nexus\n  address: https://n.example\n",
    ));
    assert!(
        f.iter()
            .any(|l| l.contains("connectorclass \"nexus\" not found")),
        "{f:#?}"
    );

    let bad = connector(
        "  connectorClassName: git\n  address: https://g.example\n  auth: {name: basicAuth}\n",
    )
    .replace("name: demo", "name: Demo_Repo");
    let f = findings(&bad);
    assert!(
        f.iter()
            .any(|l| l.contains("metadata.name \"Demo_Repo\" is not an RFC 1123 label")),
        "{f:#?}"
    );
    assert!(
        f.iter()
            .any(|l| l.contains("\"repository\" is required by the auth probe")),
        "{f:#?}"
    );
}

#[test]
fn malformed_yaml_and_duplicates_are_findings() {
    let f = findings("apiVersion: v1\nkind: Secret\nmetadata: {name: a\n");
    assert!(
        f.iter()
            .any(|l| l.starts_with("m.yaml: document 0: malformed YAML")),
        "{f:#?}"
    );
    let mut inv = Inventory::with_builtins();
    inv.add_manifest("a.yaml", SECRET);
    inv.add_manifest("b.yaml", SECRET);
    let f: Vec<String> = inv.validate().into_iter().map(|f| f.to_string()).collect();
    assert!(
        f.iter().any(|l| l.contains(
            "b.yaml: document 0: Secret team-a/creds: defined again (first at a.yaml: document 0)"
        )),
        "{f:#?}"
    );
}

#[test]
fn classes_are_checked_for_templates_policies_and_references() {
    let class = "apiVersion: connectors.alauda.io/v1alpha1\nkind: ConnectorClass\nmetadata: {name: broken}\nspec:\n  auth:\n    types:\n    - {name: a, secretType: example.com/custom}\n    - name: a\n      generator: {rego: 'package proxy\n\n auth = {'}\n  authProbes:\n  - {authName: b, probe: {http: {path: /}}}\n  configurations:\n  - name: c\n    data:\n      'bad/name': x\n      ok: '{{ .x '\n";
    let f = findings(class);
    let joined = f.join("\n");
    assert!(joined.contains("name \"a\" is used twice"), "{joined}");
    assert!(joined.contains("params must list the keys"), "{joined}");
    assert!(
        joined.contains("authName \"b\" is not one of spec.auth.types"),
        "{joined}"
    );
    assert!(joined.contains("file name \"bad/name\""), "{joined}");
    assert!(joined.contains("template \"c/ok\""), "{joined}");
    assert!(
        joined.contains("auth type \"a\" of class \"broken\""),
        "{joined}"
    );
}
