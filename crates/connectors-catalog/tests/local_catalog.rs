//! The local backend against a real directory.

use connectors_catalog::local::{LocalCatalog, LocalOptions};
use connectors_catalog::{AccessCheck, Catalog, CatalogError};
use connectors_types::connector::ConnectorStatus;
use connectors_types::connector_class::ConnectorClassStatus;
use connectors_types::Condition;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: team-a}\ntype: kubernetes.io/basic-auth\nstringData: {username: alice, password: hunter2-secret}\n";

fn connector(address: &str) -> String {
    format!("apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {{name: demo, namespace: team-a}}\nspec:\n  connectorClassName: git\n  address: {address}\n  auth: {{name: basicAuth, secretRef: {{name: creds}}}}\n")
}

struct Fixture {
    _tmp: tempfile::TempDir,
    config: std::path::PathBuf,
    catalog: Arc<LocalCatalog>,
}

async fn start(files: &[(&str, &str)]) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    for (name, text) in files {
        write(&config.join(name), text);
    }
    let catalog = LocalCatalog::start(
        &config,
        &tmp.path().join("data"),
        LocalOptions {
            rescan_interval: Duration::from_millis(200),
            debounce: Duration::from_millis(50),
        },
    )
    .unwrap();
    Fixture {
        _tmp: tmp,
        config,
        catalog,
    }
}

fn write(path: &Path, text: &str) {
    // Write through a temporary file so readers never see half a file, as
    // editors and config management do.
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Waits (bounded) until `cond` holds for the current snapshot.
async fn eventually(
    catalog: &LocalCatalog,
    what: &str,
    cond: impl Fn(&connectors_catalog::Snapshot) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if cond(&catalog.snapshot()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn loads_objects_with_builtins_and_server_metadata() {
    let f = start(&[(
        "a.yaml",
        &format!("{SECRET}---\n{}", connector("https://g.example")),
    )])
    .await;
    let snap = f.catalog.snapshot();
    let c = snap.connector("team-a", "demo").unwrap();
    assert_eq!(c.metadata.generation, Some(1));
    assert!(c.metadata.uid.is_some());
    assert!(c.metadata.creation_timestamp.is_some());
    assert!(snap.secret("team-a", "creds").is_some());
    for builtin in ["git", "gitlab", "k8s"] {
        assert!(snap.class(builtin).is_some(), "{builtin}");
    }
    assert!(snap.secret_of(c).is_some());
    assert!(f.catalog.problems().is_empty());
}

#[tokio::test]
async fn edits_are_picked_up_and_unchanged_objects_keep_their_arc() {
    let f = start(&[
        ("a.yaml", SECRET),
        ("b.yaml", &connector("https://g.example")),
    ])
    .await;
    let before = f.catalog.snapshot();
    let rx = f.catalog.subscribe();
    write(
        &f.config.join("b.yaml"),
        &connector("https://other.example"),
    );
    eventually(&f.catalog, "address change", |s| {
        s.connector("team-a", "demo")
            .map(|c| c.spec.address.as_str())
            == Some("https://other.example")
    })
    .await;
    assert!(rx.has_changed().unwrap());
    let after = f.catalog.snapshot();
    assert!(after.generation > before.generation);
    let c = after.connector("team-a", "demo").unwrap();
    assert_eq!(c.metadata.generation, Some(2));
    assert_eq!(
        c.metadata.uid,
        before.connector("team-a", "demo").unwrap().metadata.uid
    );
    assert!(Arc::ptr_eq(
        before.secret("team-a", "creds").unwrap(),
        after.secret("team-a", "creds").unwrap()
    ));
    assert!(Arc::ptr_eq(
        before.class("git").unwrap(),
        after.class("git").unwrap()
    ));

    // Touching a file without changing it publishes nothing.
    let g = f.catalog.snapshot().generation;
    write(&f.config.join("a.yaml"), SECRET);
    f.catalog.reload();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(f.catalog.snapshot().generation, g);
}

#[tokio::test]
async fn a_broken_file_keeps_its_last_good_objects_until_fixed() {
    let f = start(&[
        ("a.yaml", SECRET),
        ("b.yaml", &connector("https://g.example")),
    ])
    .await;
    let g0 = f.catalog.snapshot().generation;
    write(
        &f.config.join("a.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: team-a}\ntype: kubernetes.io/basic-auth\nstringData: {username: alice, password: [not, a, string, hunter2-new]}\n",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.catalog.problems().is_empty() {
        assert!(Instant::now() < deadline, "problem not reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let problems = f.catalog.problems();
    assert_eq!(problems.len(), 1);
    assert!(
        f.catalog.snapshot().generation > g0,
        "a new problem is a new generation"
    );
    assert!(problems[0].file.ends_with("a.yaml"));
    assert_eq!(problems[0].document, Some(0));
    assert!(
        problems[0].message.contains("stringData.password"),
        "{}",
        problems[0]
    );
    assert!(
        !problems[0].to_string().contains("hunter2"),
        "{}",
        problems[0]
    );
    let snap = f.catalog.snapshot();
    let secret = snap
        .secret("team-a", "creds")
        .expect("last good Secret kept");
    assert_eq!(
        connectors_types::secret::string_data(secret)["password"],
        "hunter2-secret"
    );

    write(
        &f.config.join("a.yaml"),
        &SECRET.replace("hunter2-secret", "rotated-value"),
    );
    eventually(&f.catalog, "fixed file", |s| {
        s.secret("team-a", "creds")
            .map(|s| connectors_types::secret::string_data(s)["password"] == "rotated-value")
            .unwrap_or(false)
    })
    .await;
    assert!(f.catalog.problems().is_empty());
}

#[tokio::test]
async fn deleted_files_remove_objects_and_duplicates_are_reported() {
    let f = start(&[
        ("a.yaml", SECRET),
        ("b.yaml", SECRET),
        ("c.yaml", &connector("https://g.example")),
    ])
    .await;
    let problems = f.catalog.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].file.ends_with("b.yaml"));
    assert!(problems[0].message.contains("defined again"));
    std::fs::remove_file(f.config.join("c.yaml")).unwrap();
    eventually(&f.catalog, "connector removed", |s| {
        s.connector("team-a", "demo").is_none()
    })
    .await;
}

#[tokio::test]
async fn a_file_class_overrides_the_builtin_one() {
    let class = "apiVersion: connectors.alauda.io/v1alpha1\nkind: ConnectorClass\nmetadata: {name: git}\nspec:\n  address: {type: string}\n  auth:\n    types:\n    - {name: tokenAuth, secretType: connectors.cpaas.io/bearer-token}\n";
    let f = start(&[("class.yaml", class)]).await;
    let snap = f.catalog.snapshot();
    let git = snap.class("git").unwrap();
    assert_eq!(git.spec.auth_types()[0].name, "tokenAuth");
}

#[tokio::test]
async fn statuses_survive_spec_edits_and_vanish_with_the_object() {
    let f = start(&[
        ("a.yaml", SECRET),
        ("b.yaml", &connector("https://g.example")),
    ])
    .await;
    let status = ConnectorStatus {
        conditions: vec![Condition::new(
            "Ready",
            connectors_types::ConditionStatus::True,
        )],
        ..Default::default()
    };
    let g0 = f.catalog.snapshot().generation;
    f.catalog
        .write_connector_status("team-a", "demo", status.clone())
        .await
        .unwrap();
    let g1 = f.catalog.snapshot().generation;
    assert!(g1 > g0);
    // Identical status: no new generation.
    f.catalog
        .write_connector_status("team-a", "demo", status.clone())
        .await
        .unwrap();
    assert_eq!(f.catalog.snapshot().generation, g1);

    write(
        &f.config.join("b.yaml"),
        &connector("https://changed.example"),
    );
    eventually(&f.catalog, "address change", |s| {
        s.connector("team-a", "demo")
            .map(|c| c.spec.address.as_str())
            == Some("https://changed.example")
    })
    .await;
    assert_eq!(
        f.catalog
            .snapshot()
            .connector("team-a", "demo")
            .unwrap()
            .status,
        Some(status.clone())
    );

    std::fs::remove_file(f.config.join("b.yaml")).unwrap();
    eventually(&f.catalog, "connector removed", |s| {
        s.connector("team-a", "demo").is_none()
    })
    .await;
    assert!(matches!(
        f.catalog
            .write_connector_status("team-a", "demo", status)
            .await,
        Err(CatalogError::NotFound { .. })
    ));
}

#[tokio::test]
async fn tokens_and_policy_through_the_trait() {
    let f = start(&[]).await;
    let t = f
        .catalog
        .issuer()
        .issue("team-a", "ci", Duration::from_secs(60))
        .unwrap();
    let id = f.catalog.authenticate(&t.token).await.unwrap();
    assert!(f
        .catalog
        .authorize(&id, &AccessCheck::get("team-a", "x"))
        .await
        .unwrap()
        .allowed());
    assert!(!f
        .catalog
        .authorize(&id, &AccessCheck::get("team-b", "x"))
        .await
        .unwrap()
        .allowed());
    let err = f.catalog.authenticate("garbage").await.unwrap_err();
    assert!(err.to_string().contains("malformed"));
}

fn password_of(s: &connectors_catalog::Snapshot) -> Option<String> {
    s.secret("team-a", "creds")
        .map(|s| connectors_types::secret::string_data(s)["password"].clone())
}

#[tokio::test]
async fn password_rotations_written_in_place_are_each_seen() {
    let f = start(&[("a.yaml", SECRET)]).await;
    let path = f.config.join("a.yaml");
    for i in 0..12 {
        // Same length every time, written in place (truncate + write), as
        // `echo > file` or a test rotating a password would.
        let pw = format!("rotated-{i:04}");
        std::fs::write(&path, SECRET.replace("hunter2-secret", &pw)).unwrap();
        eventually(&f.catalog, &format!("password {pw}"), |s| {
            password_of(s).as_deref() == Some(pw.as_str())
        })
        .await;
        assert_eq!(
            f.catalog
                .snapshot()
                .secret("team-a", "creds")
                .unwrap()
                .metadata
                .generation,
            Some(i + 2)
        );
    }
}

#[tokio::test]
async fn file_events_alone_land_changes() {
    // A rescan interval far beyond the test's deadline: only file events can
    // bring the change in.
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    write(&config.join("a.yaml"), SECRET);
    let catalog = LocalCatalog::start(
        &config,
        &tmp.path().join("data"),
        LocalOptions {
            rescan_interval: Duration::from_secs(3600),
            ..LocalOptions::default()
        },
    )
    .unwrap();
    let mut rx = catalog.subscribe();
    write(
        &config.join("a.yaml"),
        &SECRET.replace("hunter2-secret", "via-events"),
    );
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .expect("a file event within 10 s")
        .unwrap();
    assert_eq!(
        password_of(&catalog.snapshot()).as_deref(),
        Some("via-events")
    );
    assert_eq!(*rx.borrow_and_update(), catalog.snapshot().generation);
}

#[tokio::test]
async fn new_files_in_subdirectories_are_loaded_and_hidden_or_foreign_files_are_not() {
    let f = start(&[]).await;
    std::fs::create_dir_all(f.config.join("team-a/git")).unwrap();
    write(&f.config.join("team-a/git/secret.yml"), SECRET);
    write(
        &f.config.join("team-a/git/connector.json"),
        &serde_json::json!({
            "apiVersion": "connectors.alauda.io/v1alpha1",
            "kind": "Connector",
            "metadata": {"name": "demo", "namespace": "team-a"},
            "spec": {"connectorClassName": "git", "address": "https://g.example",
                     "auth": {"name": "basicAuth", "secretRef": {"name": "creds"}}}
        })
        .to_string(),
    );
    let hidden = connector("https://g.example").replace("name: demo", "name: hidden");
    write(&f.config.join(".hidden.yaml"), &hidden);
    std::fs::create_dir_all(f.config.join(".git")).unwrap();
    write(&f.config.join(".git/c.yaml"), &hidden);
    write(&f.config.join("notes.txt"), &hidden);
    eventually(&f.catalog, "nested files", |s| {
        s.connector("team-a", "demo").is_some() && s.secret("team-a", "creds").is_some()
    })
    .await;
    f.catalog.reload();
    let snap = f.catalog.snapshot();
    assert!(snap.connector("team-a", "hidden").is_none());
    assert_eq!(snap.connectors.len(), 1);
    assert!(
        f.catalog.problems().is_empty(),
        "{:?}",
        f.catalog.problems()
    );
}

#[tokio::test]
async fn edits_that_change_no_object_publish_nothing() {
    let f = start(&[("a.yaml", SECRET)]).await;
    let before = f.catalog.snapshot();
    write(&f.config.join("a.yaml"), &format!("# a comment\n{SECRET}"));
    f.catalog.reload();
    let after = f.catalog.snapshot();
    assert_eq!(after.generation, before.generation);
    assert!(Arc::ptr_eq(
        before.secret("team-a", "creds").unwrap(),
        after.secret("team-a", "creds").unwrap()
    ));
}

#[tokio::test]
async fn deleting_the_first_definition_promotes_the_duplicate() {
    let f = start(&[
        ("a.yaml", SECRET),
        ("b.yaml", &SECRET.replace("hunter2-secret", "second-value")),
    ])
    .await;
    assert_eq!(
        password_of(&f.catalog.snapshot()).as_deref(),
        Some("hunter2-secret")
    );
    let p = &f.catalog.problems()[0];
    assert!(p.file.ends_with("b.yaml"));
    assert_eq!(p.document, Some(0));
    assert!(p.message.contains("Secret team-a/creds"), "{p}");
    assert!(!p.message.contains("second-value"), "{p}");
    std::fs::remove_file(f.config.join("a.yaml")).unwrap();
    eventually(&f.catalog, "b.yaml's Secret", |s| {
        password_of(s).as_deref() == Some("second-value")
    })
    .await;
    assert!(f.catalog.problems().is_empty());
}

#[tokio::test]
async fn class_statuses_are_kept_and_unknown_objects_are_not_found() {
    let f = start(&[]).await;
    let status = ConnectorClassStatus {
        observed_generation: Some(1),
        ..Default::default()
    };
    let g0 = f.catalog.snapshot().generation;
    f.catalog
        .write_class_status("git", status.clone())
        .await
        .unwrap();
    let snap = f.catalog.snapshot();
    assert!(snap.generation > g0);
    assert_eq!(snap.class("git").unwrap().status.as_ref(), Some(&status));
    assert_eq!(snap.class("git").unwrap().metadata.generation, Some(1));
    f.catalog
        .write_class_status("git", status.clone())
        .await
        .unwrap();
    assert_eq!(f.catalog.snapshot().generation, snap.generation);

    let err = f
        .catalog
        .write_class_status("no-such-class", status)
        .await
        .unwrap_err();
    assert!(matches!(err, CatalogError::NotFound { .. }));
    assert!(err.to_string().contains("no-such-class"), "{err}");
    let err = f
        .catalog
        .write_connector_status("team-a", "nope", ConnectorStatus::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("team-a/nope"), "{err}");
}

#[tokio::test]
async fn a_config_path_that_is_not_a_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let err = LocalCatalog::start(
        &tmp.path().join("missing"),
        &tmp.path().join("data"),
        LocalOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a directory"), "{err}");
}

#[test]
fn starting_outside_a_runtime_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let err = LocalCatalog::start(
        tmp.path(),
        &tmp.path().join(".data"),
        LocalOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("tokio runtime"), "{err}");
}

#[tokio::test]
async fn the_watcher_stops_with_the_catalog() {
    let f = start(&[("a.yaml", SECRET)]).await;
    let weak = Arc::downgrade(&f.catalog);
    let Fixture {
        _tmp,
        config,
        catalog,
    } = f;
    drop(catalog);
    write(
        &config.join("a.yaml"),
        &SECRET.replace("hunter2-secret", "x"),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(weak.upgrade().is_none(), "nothing else holds the catalog");
}
