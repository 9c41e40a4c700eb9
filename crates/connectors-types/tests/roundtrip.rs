use connectors_types::connector_class::ProxyResolver;
use connectors_types::{Connector, ConnectorClass};

fn roundtrip<T: serde::de::DeserializeOwned + serde::Serialize>(text: &str) -> T {
    let original: serde_json::Value = serde_norway::from_str(text).unwrap();
    let typed: T = serde_norway::from_str(text).unwrap();
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        original,
        back,
        "YAML -> type -> YAML lost or changed a field:\n{}",
        serde_norway::to_string(&back).unwrap()
    );
    typed
}

#[test]
fn connector_keeps_every_field() {
    let c: Connector = roundtrip(include_str!("fixtures/connector-full.yaml"));
    assert_eq!(c.key(), "team-a/team-gitlab");
    assert_eq!(c.spec.auth_name(), "patAuth");
    assert_eq!(c.spec.secret_name(), Some("gitlab-secret"));
    assert_eq!(
        c.spec.auth_param("repository").and_then(|p| p.as_str()),
        Some("group/repo.git")
    );
    assert_eq!(
        c.spec.address_extension("api"),
        Some("https://api.gitlab.example.com")
    );
    assert_eq!(
        c.proxy_address(),
        Some("http://c-team-gitlab.team-a.svc.cluster.local")
    );
    assert_eq!(
        c.ready_condition().and_then(|r| r.reason.as_deref()),
        Some("ConnectionFailed")
    );
}

#[test]
fn connector_class_keeps_every_field() {
    let c: ConnectorClass = roundtrip(include_str!("fixtures/connectorclass-full.yaml"));
    assert_eq!(c.proxy_resolver(), ProxyResolver::Path);
    assert!(c.spec.auth_type("basicAuth").unwrap().is_optional());
    assert!(!c.spec.auth_type("apiKey").unwrap().is_optional());
    assert_eq!(
        c.spec
            .auth_probe("basicAuth")
            .unwrap()
            .probe
            .http
            .as_ref()
            .unwrap()
            .http_headers
            .len(),
        3
    );
    assert!(c.spec.configuration("gitconfig").is_some());
    assert!(c.spec.auth_extractor().unwrap().contains("package proxy"));
}

#[test]
fn minimal_objects_serialise_without_empty_noise() {
    let c: Connector = roundtrip(
        "apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata:\n  name: a\n  namespace: b\nspec:\n  connectorClassName: git\n  address: https://github.com\n",
    );
    assert!(c.status.is_none());
    let _: ConnectorClass = roundtrip(
        "apiVersion: connectors.alauda.io/v1alpha1\nkind: ConnectorClass\nmetadata:\n  name: hello-git\nspec:\n  address:\n    type: string\n  auth:\n    types:\n    - name: basicAuth\n      secretType: kubernetes.io/basic-auth\n",
    );
}
