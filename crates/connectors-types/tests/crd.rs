use connectors_types::crd::crds;

#[test]
fn crds_have_scope_names_and_columns_of_the_spec() {
    let crds = crds();
    let class = serde_json::to_value(&crds[0]).unwrap();
    let conn = serde_json::to_value(&crds[1]).unwrap();

    assert_eq!(conn["metadata"]["name"], "connectors.connectors.alauda.io");
    assert_eq!(conn["spec"]["scope"], "Namespaced");
    assert_eq!(conn["spec"]["names"]["kind"], "Connector");
    assert_eq!(conn["spec"]["names"]["categories"][0], "alauda");
    assert_eq!(
        class["metadata"]["name"],
        "connectorclasses.connectors.alauda.io"
    );
    assert_eq!(class["spec"]["scope"], "Cluster");
    assert_eq!(class["spec"]["names"]["plural"], "connectorclasses");
    for crd in [&conn, &class] {
        assert_eq!(
            crd["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "connectors-system/connectors-serving-cert"
        );
        let v = &crd["spec"]["versions"][0];
        assert_eq!(v["name"], "v1alpha1");
        assert_eq!(v["served"], true);
        assert_eq!(v["storage"], true);
        assert!(v["subresources"]["status"].is_object());
    }
    let cols = |crd: &serde_json::Value| -> Vec<(String, String)> {
        crd["spec"]["versions"][0]["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["jsonPath"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let ready = r#".status.conditions[?(@.type=="Ready")]"#;
    assert_eq!(
        cols(&conn),
        vec![
            ("Class".into(), ".spec.connectorClassName".into()),
            ("Address".into(), ".spec.address".into()),
            ("Ready".into(), format!("{ready}.status")),
            ("Reason".into(), format!("{ready}.reason")),
            ("Age".into(), ".metadata.creationTimestamp".into()),
        ]
    );
    assert_eq!(
        cols(&class),
        vec![
            ("Ready".into(), format!("{ready}.status")),
            ("Reason".into(), format!("{ready}.reason")),
            ("Age".into(), ".metadata.creationTimestamp".into()),
        ]
    );
}

#[test]
fn free_form_fields_preserve_unknown_fields() {
    let crds = crds();
    let conn = serde_json::to_value(&crds[1]).unwrap();
    let spec = &conn["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let value = &spec["properties"]["params"]["items"]["properties"]["value"];
    assert_eq!(
        value["x-kubernetes-preserve-unknown-fields"], true,
        "{value}"
    );
    let class = serde_json::to_value(&crds[0]).unwrap();
    let cspec = &class["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(
        cspec["properties"]["api"]["properties"]["openapi"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
}
