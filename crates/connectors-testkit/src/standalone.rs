//! The real `connectors standalone` process, started from the binary the
//! caller names (e.g. `env!("CARGO_BIN_EXE_connectors")`).

use crate::http::{self, HttpResponse};
use crate::interrupt::ScratchDir;
use crate::ports::{free_port, start_on_free_ports, Attempt};
use crate::process::{output_with_timeout, ProcessGuard};
use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long the process may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one CLI command may run.
const CLI_TIMEOUT: Duration = Duration::from_secs(120);

/// Extra settings for [`Standalone::start_with`].
#[derive(Clone, Debug)]
pub struct StandaloneOptions {
    /// Data directory; a fresh one inside the kit's temporary directory when
    /// `None`.
    pub data_dir: Option<PathBuf>,
    /// `--log-level` (default `debug`).
    pub log_level: String,
    /// `--probe-interval`, when set.
    pub probe_interval: Option<String>,
    /// More arguments for `connectors standalone`.
    pub extra_args: Vec<String>,
}

impl Default for StandaloneOptions {
    fn default() -> Self {
        StandaloneOptions {
            data_dir: None,
            log_level: "debug".to_string(),
            probe_interval: None,
            extra_args: Vec::new(),
        }
    }
}

/// A running `connectors standalone`; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Standalone {
    bin: PathBuf,
    work: ScratchDir,
    data: PathBuf,
    proxy_port: u16,
    api_port: u16,
    metrics_port: u16,
    process: Option<ProcessGuard>,
}

/// The three ports of one start attempt.
struct Ports {
    proxy: u16,
    api: u16,
    metrics: u16,
}

impl Ports {
    /// Ports free at the time of the call (another process may still take
    /// one before the standalone binds it; the caller retries then).
    fn free() -> Ports {
        Ports {
            proxy: free_port(),
            api: free_port(),
            metrics: free_port(),
        }
    }
}

/// `bin standalone` with the config, data directory, listeners, log level
/// and options of one start, and none of the caller's `CONNECTORS_DATA`,
/// `CONNECTORS_LOG` or `RUST_LOG`.
fn command(
    bin: &Path,
    config_dir: &Path,
    data: &Path,
    ports: &Ports,
    opts: &StandaloneOptions,
) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("standalone")
        .arg("--config")
        .arg(config_dir)
        .arg("--data")
        .arg(data)
        .arg("--proxy-listen")
        .arg(format!("127.0.0.1:{}", ports.proxy))
        .arg("--api-listen")
        .arg(format!("127.0.0.1:{}", ports.api))
        .arg("--metrics-listen")
        .arg(format!("127.0.0.1:{}", ports.metrics))
        .arg("--log-level")
        .arg(&opts.log_level);
    if let Some(p) = &opts.probe_interval {
        cmd.arg("--probe-interval").arg(p);
    }
    cmd.args(&opts.extra_args)
        .env_remove("CONNECTORS_DATA")
        .env_remove("CONNECTORS_LOG")
        .env_remove("RUST_LOG");
    cmd
}

impl Standalone {
    /// Starts `bin standalone --config CONFIG` with default options.
    pub fn start(bin: impl AsRef<Path>, config_dir: impl AsRef<Path>) -> Result<Standalone> {
        Standalone::start_with(bin, config_dir, StandaloneOptions::default())
    }

    /// Starts `bin standalone --config CONFIG --data DATA --proxy-listen
    /// 127.0.0.1:P --api-listen 127.0.0.1:Q --log-level LEVEL …` with
    /// stdout and stderr in a log file, and waits until
    /// `GET /healthz` answers 200.
    pub fn start_with(
        bin: impl AsRef<Path>,
        config_dir: impl AsRef<Path>,
        opts: StandaloneOptions,
    ) -> Result<Standalone> {
        let bin = bin.as_ref().to_path_buf();
        if !bin.exists() {
            bail!(
                "{} does not exist; build it with cargo build -p connectors",
                bin.display()
            );
        }
        let work = crate::interrupt::scratch_dir("standalone-")?;
        let data = opts
            .data_dir
            .clone()
            .unwrap_or_else(|| work.path().join("data"));
        let log_path = work.path().join("standalone.log");

        let (ports, process) = start_on_free_ports(
            || {
                let ports = Ports::free();
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log_path)?;
                let mut cmd = command(&bin, config_dir.as_ref(), &data, &ports, &opts);
                cmd.stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log);
                let mut process = ProcessGuard::spawn("connectors standalone", &mut cmd)?;
                let healthz = format!("http://127.0.0.1:{}/healthz", ports.api);
                let ready = process.wait_ready(START_TIMEOUT, Duration::from_millis(20), || {
                    http::get(&healthz, &[]).is_ok_and(|r| r.status == 200)
                });
                if ready {
                    return Ok(Attempt::Ready((ports, process)));
                }
                let running = process.is_running();
                drop(process);
                let log = read_lossy(&log_path);
                let port_taken = log.contains("cannot listen") || log.contains("in use");
                Ok(Attempt::not_ready(log, port_taken && !running))
            },
            |log| anyhow!("connectors standalone did not become healthy; its log:\n{log}"),
        )?;
        Ok(Standalone {
            bin,
            work,
            data,
            proxy_port: ports.proxy,
            api_port: ports.api,
            metrics_port: ports.metrics,
            process: Some(process),
        })
    }

    /// Base URL of the proxy, `http://127.0.0.1:P`.
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy_port)
    }

    /// Base URL of the metrics listener, `http://127.0.0.1:M`.
    pub fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.metrics_port)
    }

    /// Base URL of the local API, `http://127.0.0.1:Q`.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// `status.proxy.httpAddress.url` of a Connector in standalone:
    /// `<proxy>/namespaces/NS/connectors/NAME`.
    pub fn connector_proxy_url(&self, namespace: &str, name: &str) -> String {
        format!(
            "{}/namespaces/{namespace}/connectors/{name}",
            self.proxy_url()
        )
    }

    /// The data directory passed with `--data`.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// Path of the log file (stdout and stderr of the process).
    pub fn log_path(&self) -> PathBuf {
        self.work.path().join("standalone.log")
    }

    /// Everything the process logged so far.
    pub fn log_text(&self) -> String {
        read_lossy(&self.log_path())
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().map(ProcessGuard::pid).unwrap_or(0)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(ProcessGuard::is_running)
    }

    /// Runs the binary with `ARGS --data DIR` (the way every command finds
    /// the running process) and returns its output. Times out after two
    /// minutes.
    pub fn run_cli<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Output> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .arg("--data")
            .arg(&self.data)
            .env_remove("CONNECTORS_DATA")
            .env_remove("CONNECTORS_LOG")
            .env_remove("RUST_LOG");
        output_with_timeout(&mut cmd, CLI_TIMEOUT)
    }

    /// Like [`run_cli`](Self::run_cli), failing unless the command exits 0;
    /// returns its standard output.
    pub fn cli_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<String> {
        let out = self.run_cli(args)?;
        if !out.status.success() {
            let shown: Vec<String> = args
                .iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect();
            bail!(
                "connectors {} failed ({})\nstdout:\n{}\nstderr:\n{}",
                shown.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The admin token of the local API (`<data>/api-token`).
    pub fn admin_token(&self) -> Result<String> {
        let path = self.data.join("api-token");
        Ok(std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_string())
    }

    /// GET a path of the local API with the admin token.
    pub fn api_get(&self, path: &str) -> Result<HttpResponse> {
        let auth = format!("Bearer {}", self.admin_token()?);
        http::get(
            &format!("{}{path}", self.api_url()),
            &[("Authorization", auth.as_str())],
        )
    }

    /// `GET /v1/status` as JSON.
    pub fn status(&self) -> Result<serde_json::Value> {
        let r = self.api_get("/v1/status")?;
        if r.status != 200 {
            bail!("GET /v1/status answered {}: {}", r.status, r.text());
        }
        r.json()
    }

    /// `generation` of `GET /v1/status`.
    pub fn generation(&self) -> Result<u64> {
        self.status()?
            .get("generation")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| anyhow!("/v1/status has no numeric generation"))
    }

    /// Waits until `GET /v1/status` generation differs from `previous` and
    /// returns the new one.
    pub fn wait_for_generation_change(&self, previous: u64, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let g = self.generation()?;
            if g != previous {
                return Ok(g);
            }
            if Instant::now() > deadline {
                bail!(
                    "generation stayed {previous} for {timeout:?}; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process (SIGTERM, SIGKILL after 10 s); also done on drop.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut p = self.process.take()?;
        p.set_grace(Duration::from_secs(10));
        p.stop()
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Standalone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Standalone")
            .field("proxy", &self.proxy_url())
            .field("api", &self.api_url())
            .field("data", &self.data)
            .field("pid", &self.pid())
            .finish()
    }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
