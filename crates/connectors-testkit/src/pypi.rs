//! A real PyPI repository: pypiserver on 127.0.0.1 with an htpasswd file,
//! authentication required for downloads and listings, packages in a private
//! directory. Put [`tls::Site::tls_reverse_proxy`](crate::tls::Site) in front
//! of it for HTTPS.
//!
//! pypiserver comes from the venv scripts/test prepares
//! (`CONNECTORS_TEST_PYPISERVER`, the `pypi-server` script; the venv's
//! `python` next to it also serves as the pip client).

use crate::http;
use crate::interrupt::ScratchDir;
use crate::ports::{free_port, start_on_free_ports, Attempt};
use crate::process::{find_program, output_with_timeout, ProcessGuard};
use crate::tls::{htpasswd, peer_from_env, read_lossy};
use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Environment variable naming the `pypi-server` script.
pub const PYPISERVER_ENV: &str = "CONNECTORS_TEST_PYPISERVER";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `pypi-server` script prepared by scripts/test.
pub fn pypiserver_bin() -> Result<PathBuf> {
    peer_from_env(
        PYPISERVER_ENV,
        "pypiserver/venv/bin/pypi-server",
        "pypiserver (a venv with pypiserver, passlib and bcrypt==4.0.1)",
    )
}

/// The venv's `python` (it has pip), next to `pypi-server`.
pub fn venv_python() -> Result<PathBuf> {
    let bin = pypiserver_bin()?;
    let python = bin.with_file_name("python");
    if !python.exists() {
        bail!(
            "{} has no python next to it; run scripts/test again",
            bin.display()
        );
    }
    Ok(python)
}

/// A running pypiserver; stopped on drop.
pub struct PypiServer {
    dir: ScratchDir,
    port: u16,
    process: Option<ProcessGuard>,
}

impl PypiServer {
    /// Starts pypiserver with one user (bcrypt htpasswd entry) and
    /// `-a download,list` (authentication required to read), and waits until
    /// it answers HTTP.
    pub fn start(user: &str, password: &str) -> Result<PypiServer> {
        let bin = pypiserver_bin()?;
        let dir = crate::interrupt::scratch_dir("pypiserver-")?;
        std::fs::create_dir_all(dir.path().join("packages"))?;
        let passwd = dir.path().join("htpasswd");
        htpasswd(&find_program("htpasswd")?, &passwd, user, password, "-B")?;
        let log_path = dir.path().join("pypiserver.log");
        let (port, process) = start_on_free_ports(
            || {
                let port = free_port();
                let log = std::fs::File::create(&log_path)?;
                let mut cmd = Command::new(&bin);
                cmd.arg("run")
                    .arg("-i")
                    .arg("127.0.0.1")
                    .arg("-p")
                    .arg(port.to_string())
                    .arg("-P")
                    .arg(&passwd)
                    .arg("-a")
                    .arg("download,list")
                    .arg(dir.path().join("packages"))
                    .env_remove("PIP_FIND_LINKS")
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log);
                let mut process = ProcessGuard::spawn("pypi-server", &mut cmd)?;
                let url = format!("http://127.0.0.1:{port}/");
                let ready = process.wait_ready(START_TIMEOUT, Duration::from_millis(50), || {
                    http::get(&url, &[]).is_ok()
                });
                if ready {
                    return Ok(Attempt::Ready((port, process)));
                }
                drop(process);
                let log = read_lossy(&log_path);
                let port_taken = log.contains("in use");
                Ok(Attempt::not_ready(log, port_taken))
            },
            |log| anyhow!("pypiserver did not start: {log}"),
        )?;
        Ok(PypiServer {
            dir,
            port,
            process: Some(process),
        })
    }

    /// Port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The directory pypiserver serves packages from.
    pub fn packages_dir(&self) -> PathBuf {
        self.dir.path().join("packages")
    }

    /// pypiserver's output so far.
    pub fn log_text(&self) -> String {
        read_lossy(&self.dir.path().join("pypiserver.log"))
    }

    /// Builds a pure-Python wheel `NAME-VERSION-py3-none-any.whl` whose
    /// module `NAME` has `VALUE = "<value>"`, and puts it in the packages
    /// directory. Returns the wheel's path.
    pub fn add_wheel(&self, name: &str, version: &str, value: &str) -> Result<PathBuf> {
        build_wheel(&self.packages_dir(), name, version, value)
    }

    /// Stops pypiserver (also done on drop).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }
}

impl Drop for PypiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for PypiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PypiServer")
            .field("url", &self.url())
            .field("dir", &self.dir.path())
            .finish()
    }
}

const WHEEL_SCRIPT: &str = r#"
import base64, hashlib, sys, zipfile
out_dir, name, version, value = sys.argv[1:5]
dist = f"{name}-{version}"
files = {
    f"{name}/__init__.py": f'VALUE = "{value}"\n',
    f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: test package\n",
    f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: connectors-testkit\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for path, text in files.items():
    data = text.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(data)}")
record.append(f"{dist}.dist-info/RECORD,,")
files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
wheel = f"{out_dir}/{dist}-py3-none-any.whl"
with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
    for path, text in files.items():
        z.writestr(path, text)
print(wheel)
"#;

/// Builds the wheel described in [`PypiServer::add_wheel`] into `out_dir`
/// with the venv's python.
pub fn build_wheel(out_dir: &Path, name: &str, version: &str, value: &str) -> Result<PathBuf> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    };
    if !ok(name) || !ok(version) || !ok(value) {
        bail!("wheel name, version and value must be [A-Za-z0-9_.]+");
    }
    let mut cmd = Command::new(venv_python()?);
    cmd.arg("-c")
        .arg(WHEEL_SCRIPT)
        .arg(out_dir)
        .arg(name)
        .arg(version)
        .arg(value);
    let out = output_with_timeout(&mut cmd, Duration::from_secs(60))?;
    check(&out, "building a wheel")?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn check(out: &Output, what: &str) -> Result<()> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
