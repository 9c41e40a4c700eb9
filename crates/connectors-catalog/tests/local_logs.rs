//! What the local backend logs about manifests: one warning per problem
//! with `file`, `document` and `reason`, a warning for Secrets others may
//! read, and never a Secret value.

use connectors_catalog::local::{LocalCatalog, LocalOptions};
use connectors_catalog::Catalog;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Every value written into a Secret by these tests; none may be logged.
const SECRET_VALUES: &[&str] = &[
    "s3cr3t-first-value",
    "s3cr3t-in-a-broken-document",
    "czNjcjN0LWJhc2U2NC1ub3Q=!!",
    "s3cr3t-world-readable",
    "s3cr3t-private-file",
];

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// All events of this test process (every thread), one JSON object a line.
fn logs() -> &'static Buffer {
    static LOGS: OnceLock<Buffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Buffer::default();
        let writer = buf.clone();
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .init();
        buf
    })
}

/// Log lines that mention `marker` (a test's own directory), parsed.
fn lines_about(marker: &str) -> Vec<serde_json::Value> {
    let text = String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned();
    text.lines()
        .filter(|l| l.contains(marker))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn assert_no_secret_values_logged() {
    let text = String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned();
    for v in SECRET_VALUES {
        assert!(!text.contains(v), "a Secret value was logged:\n{text}");
    }
}

fn secret(name: &str, password: &str) -> String {
    format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: team-a}}\ntype: kubernetes.io/basic-auth\nstringData: {{username: u, password: {password}}}\n")
}

async fn start(config: &Path) -> Arc<LocalCatalog> {
    LocalCatalog::start(
        config,
        &config.join("../data"),
        LocalOptions {
            rescan_interval: Duration::from_millis(100),
            debounce: Duration::from_millis(20),
        },
    )
    .unwrap()
}

fn config_dir(tmp: &tempfile::TempDir) -> std::path::PathBuf {
    let config = tmp.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    config
}

#[tokio::test]
async fn each_problem_is_one_warning_with_file_document_and_reason() {
    logs();
    let tmp = tempfile::tempdir().unwrap();
    let config = config_dir(&tmp);
    let file = config.join("creds.yaml");
    std::fs::write(&file, secret("one", "s3cr3t-first-value")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let catalog = start(&config).await;

    // Document 1 has a password that is not a string; document 2 has
    // `data` that is not base64. Both quote Secret values in the file.
    let broken = format!(
        "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: two, namespace: team-a}}\nstringData: {{username: u, password: [s3cr3t-in-a-broken-document]}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: three, namespace: team-a}}\ndata: {{password: \"czNjcjN0LWJhc2U2NC1ub3Q=!!\"}}\n",
        secret("one", "s3cr3t-first-value")
    );
    std::fs::write(&file, broken).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while catalog.problems().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "problems not reported: {:?}",
            catalog.problems()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The file's last good state is kept: only the first Secret.
    let snap = catalog.snapshot();
    assert!(snap.secret("team-a", "one").is_some());
    assert!(snap.secret("team-a", "two").is_none());

    let marker = file.display().to_string();
    let warnings: Vec<_> = lines_about(&marker)
        .into_iter()
        .filter(|l| l["level"] == "WARN")
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    let problems = catalog.problems();
    for (w, p) in warnings.iter().zip(&problems) {
        let fields = &w["fields"];
        assert_eq!(fields["file"], marker);
        assert_eq!(fields["document"].as_u64(), p.document.map(|d| d as u64));
        assert_eq!(fields["reason"], p.message);
    }
    assert_eq!(problems[0].document, Some(1));
    assert_eq!(problems[1].document, Some(2));
    for p in &problems {
        for v in SECRET_VALUES {
            assert!(!p.to_string().contains(v), "{p}");
        }
    }
    assert_no_secret_values_logged();
}

#[tokio::test]
async fn secrets_others_may_read_are_warned_about_once() {
    logs();
    let tmp = tempfile::tempdir().unwrap();
    let config = config_dir(&tmp);
    let open = config.join("open.yaml");
    let private = config.join("private.yaml");
    std::fs::write(&open, secret("open", "s3cr3t-world-readable")).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&private, secret("private", "s3cr3t-private-file")).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    let catalog = start(&config).await;
    // Several rescans, and an edit that keeps the mode.
    std::fs::write(
        &open,
        secret("open", "s3cr3t-world-readable") + "# edited\n",
    )
    .unwrap();
    catalog.reload();
    tokio::time::sleep(Duration::from_millis(400)).await;

    let exposure = |path: &Path| {
        lines_about(&path.display().to_string())
            .into_iter()
            .filter(|l| {
                l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("chmod 600"))
            })
            .count()
    };
    assert_eq!(exposure(&open), 1);
    assert_eq!(exposure(&private), 0);

    // Fixed and opened again: warned again.
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o600)).unwrap();
    catalog.reload();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o604)).unwrap();
    catalog.reload();
    assert_eq!(exposure(&open), 2);
    assert!(catalog.problems().is_empty(), "a warning, not a problem");
    assert_no_secret_values_logged();
}
