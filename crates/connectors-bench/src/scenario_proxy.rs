//! The `proxy` scenario: small requests and a large streamed body through
//! nginx directly, our reverse proxy, an nginx reverse proxy and our
//! CONNECT-intercepting forward proxy.

use crate::cli::{BodyClient, CommonArgs, ProxyArgs};
use crate::curl::{self, CurlGet};
use crate::load::{self, RequestSpec, Transport};
use crate::nginx;
use crate::proxy_process::{self, Proxy, NAMESPACE};
use crate::report::{self, Congestion, CpuSplit, Figures, ModeRow, ProxyFigures, ProxyReport};
use crate::stats::LatencySummary;
use crate::{certs, cpu, haproxy, listeners, wrk};
use anyhow::{bail, Context, Result};
use base64::Engine;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use rustls::pki_types::{IpAddr as PkiIp, ServerName};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

const USER: &str = "bench";
const PASSWORD: &str = "bench-password-0123";
const PLAIN: &str = "plain";
const TLS: &str = "tls";

/// One mode: its name, what it talks to and the request it sends.
struct Mode {
    name: &'static str,
    path: String,
    small: RequestSpec,
    big: RequestSpec,
    /// `(url, headers)` for wrk, when wrk can do this mode.
    wrk: Option<(String, Vec<(String, String)>)>,
    /// The body's download by curl.
    curl: CurlGet,
    /// Whether the proxy under test carries this mode's traffic.
    ours: bool,
    /// Name of the mode whose p99 is this mode's baseline.
    baseline: &'static str,
}

fn header(name: HeaderName, value: &str) -> Result<(HeaderName, HeaderValue)> {
    Ok((name, HeaderValue::from_str(value)?))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn ip_name() -> ServerName<'static> {
    ServerName::IpAddress(PkiIp::from(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST)))
}

/// Every mode's name, in the order the modes run.
const MODE_NAMES: [&str; 8] = [
    "direct",
    "direct-tls",
    "ours-reverse",
    "nginx-anchor",
    "nginx-anchor-tls",
    "ours-forward",
    "haproxy-tcp",
    "haproxy-tls",
];

/// Runs the scenario.
pub fn run(rt: &Runtime, args: &ProxyArgs, common: &CommonArgs) -> Result<ProxyReport> {
    if let Some(unknown) = args
        .body_modes
        .iter()
        .find(|b| !MODE_NAMES.contains(&b.as_str()))
    {
        bail!(
            "--body-modes: no mode is called {unknown:?} (modes: {})",
            MODE_NAMES.join(", ")
        );
    }
    let bin = proxy_process::find_binary(common.connectors_bin.as_deref())?;
    let body_bytes = args.body_mib << 20;
    let tmp = connectors_testkit::interrupt::scratch_dir("connectors-bench-proxy-")?;
    let dir = tmp.path();
    eprintln!("[proxy] working in {}", dir.display());

    let certs = certs::make()?;
    let files = nginx::write_upstream_files(
        dir,
        body_bytes,
        USER,
        PASSWORD,
        &certs.leaf_pem,
        &certs.leaf_key_pem,
    )?;
    let congestion = listeners::algorithm(&args.loopback_congestion);
    let upstream = nginx::start_upstream(dir, &files, args.upstream_workers, congestion)?;
    let tls_port = upstream.tls_port;
    eprintln!(
        "[proxy] upstream nginx on 127.0.0.1:{} (TLS :{tls_port}), {} worker(s)",
        upstream.port, args.upstream_workers
    );
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let anchor = nginx::start_anchor(
        dir,
        &upstream,
        &files,
        &basic,
        args.anchor_workers,
        congestion,
    )?;
    let anchor_tls_port = anchor.tls_port;
    eprintln!(
        "[proxy] anchor nginx on 127.0.0.1:{} (TLS to TLS :{anchor_tls_port}), {} worker(s)",
        anchor.port, args.anchor_workers
    );

    let use_haproxy = !args.no_haproxy && haproxy::available();
    if !args.no_haproxy && !use_haproxy {
        eprintln!("[proxy] haproxy is not on PATH: no reference relays (apt-get install haproxy)");
    }
    let relay = use_haproxy
        .then(|| {
            haproxy::start(
                dir,
                &upstream,
                &haproxy::RelayTls {
                    cert_pem: &certs.leaf_pem,
                    key_pem: &certs.leaf_key_pem,
                    upstream_ca_pem: &certs.ca_pem,
                },
                args.anchor_workers,
                congestion,
            )
        })
        .transpose()?;
    if let Some(r) = &relay {
        eprintln!(
            "[proxy] haproxy (TCP mode) on 127.0.0.1:{} (TLS to TLS :{}), {} thread(s)",
            r.port, r.tls_port, args.anchor_workers
        );
    }

    let manifests = vec![
        proxy_process::basic_auth_secret("bench-creds", USER, PASSWORD),
        proxy_process::ca_secret("bench-upstream-ca", &certs.ca_pem),
        proxy_process::git_connector(
            PLAIN,
            &format!("http://127.0.0.1:{}", upstream.port),
            "bench-creds",
            None,
        ),
        proxy_process::git_connector(
            TLS,
            &format!("https://127.0.0.1:{tls_port}"),
            "bench-creds",
            Some("bench-upstream-ca"),
        ),
    ];
    let proxy = Proxy::start(
        &bin,
        &dir.join("manifests"),
        &manifests,
        &common.proxy_log_level,
        // Like for like: as many proxy threads as anchor worker processes.
        args.anchor_workers,
        &[
            "--loopback-congestion".into(),
            args.loopback_congestion.clone(),
        ],
    )?;
    eprintln!(
        "[proxy] connectors standalone (pid {}, {} proxy worker(s)) on {} from {}",
        proxy.standalone.pid(),
        args.anchor_workers,
        proxy.standalone.proxy_url(),
        bin.display()
    );
    let proxy_addr = proxy.addr()?;
    let proxy_ca = load::tls_client(&proxy.ca_pem()?)?;
    let upstream_ca = load::tls_client(certs.ca_pem.as_bytes())?;

    let direct_host = format!("127.0.0.1:{}", upstream.port);
    let tls_host = format!("127.0.0.1:{tls_port}");
    let proxy_host = proxy_addr.to_string();
    let anchor_host = format!("127.0.0.1:{}", anchor.port);
    let anchor_tls_host = format!("127.0.0.1:{anchor_tls_port}");
    let bearer = format!("Bearer {}", proxy.token);
    let prefix = format!("/namespaces/{NAMESPACE}/connectors/{PLAIN}");
    let proxy_basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{NAMESPACE}/{TLS}:{}", proxy.token))
    );

    let spec =
        |transport: Transport, host: &str, path: &str, auth: Option<&str>| -> Result<RequestSpec> {
            Ok(RequestSpec {
                transport,
                host: host.to_string(),
                path: path.to_string(),
                headers: auth
                    .map(|a| header(AUTHORIZATION, a))
                    .transpose()?
                    .into_iter()
                    .collect(),
            })
        };
    let direct = spec(
        Transport::Plain {
            addr: loopback(upstream.port),
        },
        &direct_host,
        "/small",
        Some(&basic),
    )?;
    let direct_tls = spec(
        Transport::Tls {
            addr: loopback(tls_port),
            tls: upstream_ca.clone(),
            server_name: ip_name(),
        },
        &tls_host,
        "/small",
        Some(&basic),
    )?;
    let reverse = spec(
        Transport::Plain { addr: proxy_addr },
        &proxy_host,
        &format!("{prefix}/small"),
        Some(&bearer),
    )?;
    let anchor_spec = spec(
        Transport::Plain {
            addr: loopback(anchor.port),
        },
        &anchor_host,
        "/small",
        None,
    )?;
    let anchor_tls_spec = spec(
        Transport::Tls {
            addr: loopback(anchor_tls_port),
            tls: upstream_ca.clone(),
            server_name: ip_name(),
        },
        &anchor_tls_host,
        "/small",
        None,
    )?;
    let forward = spec(
        Transport::Connect {
            proxy: proxy_addr,
            authority: tls_host.clone(),
            proxy_authorization: proxy_basic,
            tls: proxy_ca,
            server_name: ip_name(),
        },
        &tls_host,
        "/small",
        None,
    )?;
    let auth_header = |v: &str| vec![("Authorization".to_string(), v.to_string())];
    let upstream_ca_file = dir.join("upstream-ca.pem");
    std::fs::write(&upstream_ca_file, &certs.ca_pem)?;
    let proxy_ca_file = dir.join("proxy-ca.pem");
    std::fs::write(&proxy_ca_file, proxy.ca_pem()?)?;
    let get = |url: String, auth: Option<&str>, cacert: Option<&std::path::Path>| CurlGet {
        url,
        headers: auth
            .map(|a| format!("Authorization: {a}"))
            .into_iter()
            .collect(),
        cacert: cacert.map(std::path::Path::to_path_buf),
        proxy: None,
    };
    let mut modes = vec![
        Mode {
            name: "direct",
            path: format!("client -> nginx {direct_host}"),
            big: direct.with_path("/big.bin"),
            small: direct,
            wrk: Some((format!("http://{direct_host}/small"), auth_header(&basic))),
            curl: get(format!("http://{direct_host}/big.bin"), Some(&basic), None),
            ours: false,
            baseline: "direct",
        },
        Mode {
            name: "direct-tls",
            path: format!("client -TLS-> nginx {tls_host}"),
            big: direct_tls.with_path("/big.bin"),
            small: direct_tls,
            wrk: None,
            curl: get(
                format!("https://{tls_host}/big.bin"),
                Some(&basic),
                Some(&upstream_ca_file),
            ),
            ours: false,
            baseline: "direct-tls",
        },
        Mode {
            name: "ours-reverse",
            path: format!("client -> connectors {proxy_host} -> nginx"),
            big: reverse.with_path(&format!("{prefix}/big.bin")),
            small: reverse,
            wrk: Some((
                format!("http://{proxy_host}{prefix}/small"),
                auth_header(&bearer),
            )),
            curl: get(
                format!("http://{proxy_host}{prefix}/big.bin"),
                Some(&bearer),
                None,
            ),
            ours: true,
            baseline: "direct",
        },
        Mode {
            name: "nginx-anchor",
            path: format!("client -> nginx proxy {anchor_host} -> nginx"),
            big: anchor_spec.with_path("/big.bin"),
            small: anchor_spec,
            wrk: Some((format!("http://{anchor_host}/small"), Vec::new())),
            curl: get(format!("http://{anchor_host}/big.bin"), None, None),
            ours: false,
            baseline: "direct",
        },
        Mode {
            name: "nginx-anchor-tls",
            path: format!("client -TLS-> nginx proxy {anchor_tls_host} -TLS-> nginx"),
            big: anchor_tls_spec.with_path("/big.bin"),
            small: anchor_tls_spec,
            wrk: None,
            curl: get(
                format!("https://{anchor_tls_host}/big.bin"),
                None,
                Some(&upstream_ca_file),
            ),
            ours: false,
            baseline: "direct-tls",
        },
        Mode {
            name: "ours-forward",
            path: format!("client -CONNECT+TLS-> connectors -TLS-> nginx {tls_host}"),
            big: forward.with_path("/big.bin"),
            small: forward,
            wrk: None,
            curl: CurlGet {
                proxy: Some((
                    format!("http://{proxy_host}"),
                    format!("{NAMESPACE}/{TLS}:{}", proxy.token),
                )),
                ..get(
                    format!("https://{tls_host}/big.bin"),
                    None,
                    Some(&proxy_ca_file),
                )
            },
            ours: true,
            baseline: "direct-tls",
        },
    ];
    if let Some(r) = &relay {
        let relay_host = format!("127.0.0.1:{}", r.port);
        let relay_tls_host = format!("127.0.0.1:{}", r.tls_port);
        let plain = spec(
            Transport::Plain {
                addr: loopback(r.port),
            },
            &relay_host,
            "/small",
            Some(&basic),
        )?;
        let tls = spec(
            Transport::Tls {
                addr: loopback(r.tls_port),
                tls: upstream_ca.clone(),
                server_name: ip_name(),
            },
            &relay_tls_host,
            "/small",
            Some(&basic),
        )?;
        modes.push(Mode {
            name: "haproxy-tcp",
            path: format!("client -> haproxy {relay_host} (TCP, splice) -> nginx"),
            big: plain.with_path("/big.bin"),
            small: plain,
            wrk: None,
            curl: get(format!("http://{relay_host}/big.bin"), Some(&basic), None),
            ours: false,
            baseline: "direct",
        });
        modes.push(Mode {
            name: "haproxy-tls",
            path: format!("client -TLS-> haproxy {relay_tls_host} (TCP) -TLS-> nginx"),
            big: tls.with_path("/big.bin"),
            small: tls,
            wrk: None,
            curl: get(
                format!("https://{relay_tls_host}/big.bin"),
                Some(&basic),
                Some(&upstream_ca_file),
            ),
            ours: false,
            baseline: "direct-tls",
        });
    }

    debug_assert!(modes.iter().all(|m| MODE_NAMES.contains(&m.name)));
    std::thread::sleep(Duration::from_secs(1));
    let mut rss = vec![(
        "idle after start (VmRSS, before any request)".to_string(),
        proxy.rss_kib()?,
    )];

    // Sanity: auth is enforced upstream, and every mode answers 200 with
    // the small body.
    rt.block_on(async {
        let mut no_auth = modes[0].small.clone();
        no_auth.headers.clear();
        let status = load::status_of(&no_auth).await?;
        if status != 401 {
            bail!("the upstream answered {status} without credentials; expected 401");
        }
        for m in &modes {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match load::check(&m.small).await {
                    Ok(n) if n == nginx::SMALL_BODY.len() as u64 => break,
                    Ok(n) => bail!("{}: /small returned {n} bytes", m.name),
                    Err(e) if Instant::now() > deadline => {
                        return Err(e.context(format!("{}: the first request failed", m.name)))
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
        Ok(())
    })?;
    eprintln!("[proxy] every mode answers /small with 200");

    let upstream_pid = upstream.pid();
    let middle_pid = |m: &Mode| match m.name {
        _ if m.ours => Some(proxy.standalone.pid()),
        "nginx-anchor" | "nginx-anchor-tls" => Some(anchor.pid()),
        "haproxy-tcp" | "haproxy-tls" => relay.as_ref().map(haproxy::Haproxy::pid),
        _ => None,
    };
    let cpu_now = |middle: Option<u32>| -> Result<CpuSplit> {
        Ok(CpuSplit {
            client: cpu::self_seconds()? + cpu::children_seconds()?,
            middle: middle.map(cpu::tree_seconds).transpose()?,
            upstream: cpu::tree_seconds(upstream_pid)?,
        })
    };

    let use_wrk = !args.no_wrk && wrk::available();
    if !args.no_wrk && !use_wrk {
        eprintln!("[proxy] wrk is not on PATH: no cross-check (apt-get install wrk)");
    }

    let mut steal: Vec<(String, f64)> = Vec::new();
    let small_start = cpu::Machine::now()?;
    let rounds = args.rounds.max(1);
    let mut results: Vec<Vec<load::LoadResult>> = vec![Vec::new(); modes.len()];
    let mut small_cpu: Vec<CpuSplit> = modes
        .iter()
        .map(|m| CpuSplit {
            middle: middle_pid(m).map(|_| 0.0),
            ..CpuSplit::default()
        })
        .collect();
    for round in 1..=rounds {
        for ((m, results), spent) in modes
            .iter()
            .zip(results.iter_mut())
            .zip(small_cpu.iter_mut())
        {
            eprintln!(
                "[proxy] round {round}/{rounds} {}: {} connections, {:?} warm-up + {:?} ({})",
                m.name, args.connections, args.warmup, args.duration, m.path
            );
            let before = cpu_now(middle_pid(m))?;
            let r = rt
                .block_on(load::run(
                    &m.small,
                    args.connections,
                    args.warmup,
                    args.duration,
                ))
                .with_context(|| format!("load on mode {}", m.name))?;
            spent.add(cpu_now(middle_pid(m))?.since(before));
            eprintln!(
                "[proxy] round {round}/{rounds} {}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {} errors{}",
                m.name,
                r.summary.rps,
                r.summary.p50_ms,
                r.summary.p99_ms,
                r.errors,
                r.first_error
                    .as_deref()
                    .map(|e| format!(" (first: {e})"))
                    .unwrap_or_default()
            );
            results.push(r);
        }
        rss.push((
            format!("peak after small-request round {round} (VmHWM)"),
            proxy.peak_rss_kib()?,
        ));
    }

    steal.push((
        "small-request rounds".to_string(),
        cpu::Machine::now()?.steal_percent_since(small_start),
    ));

    let mut rows: Vec<ModeRow> = Vec::new();
    for ((m, results), spent) in modes.iter().zip(results).zip(small_cpu) {
        let wrk_result = match (&m.wrk, use_wrk) {
            (Some((url, headers)), true) => {
                eprintln!("[proxy] {}: wrk cross-check ({:?})", m.name, args.duration);
                match wrk::run(url, headers, args.connections, args.duration) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        eprintln!("[proxy] {}: wrk failed: {e:#}", m.name);
                        None
                    }
                }
            }
            _ => None,
        };
        let total: u64 = results.iter().map(|r| r.total_requests).sum();
        let summaries: Vec<LatencySummary> = results.iter().map(|r| r.summary.clone()).collect();
        rows.push(ModeRow {
            mode: m.name.to_string(),
            path: m.path.clone(),
            small: LatencySummary::median_of(&summaries),
            rounds: summaries,
            errors: results.iter().map(|r| r.errors).sum(),
            reconnects: results.iter().map(|r| r.reconnects).sum(),
            added_p99_ms: None,
            body_mb_s: None,
            body_runs_mb_s: Vec::new(),
            body_seconds: None,
            wrk: wrk_result,
            cpu_us_per_request: spent.per(total as f64 / 1e6),
            body_cpu_s_per_gib: None,
        });
    }
    if use_wrk {
        rss.push((
            "peak after wrk runs (VmHWM)".to_string(),
            proxy.peak_rss_kib()?,
        ));
    }

    if !args.no_body {
        let body_client = match args.body_client {
            BodyClient::Curl if !curl::available() => {
                bail!("curl is not on PATH: install it (apt-get install curl) or pass --body-client builtin")
            }
            c => c,
        };
        eprintln!(
            "[proxy] the body is downloaded by {}",
            body_client.describe()
        );
        // The first long download after the small-request rounds runs at a
        // tenth of the speed of the next ones, whatever the mode, with nginx
        // spending seconds of CPU time on it (the file is in the page
        // cache): one direct download, not counted, takes that cost.
        eprintln!("[proxy] warm-up: one direct download, not counted");
        match body_client {
            BodyClient::Curl => modes[0].curl.download(body_bytes),
            BodyClient::Builtin => {
                rt.block_on(load::download(&modes[0].big, "warm-up", body_bytes))
            }
        }
        .context("the warm-up download")?;
        let body_start = cpu::Machine::now()?;
        let rounds = args.body_repeat.max(1);
        let mut speeds: Vec<Vec<(f64, f64)>> = vec![Vec::new(); modes.len()];
        let mut body_cpu: Vec<CpuSplit> = modes
            .iter()
            .map(|m| CpuSplit {
                middle: middle_pid(m).map(|_| 0.0),
                ..CpuSplit::default()
            })
            .collect();
        for round in 1..=rounds {
            for ((m, speed), spent) in modes.iter().zip(speeds.iter_mut()).zip(body_cpu.iter_mut())
            {
                if !args.body_modes.is_empty() && !args.body_modes.iter().any(|b| b == m.name) {
                    continue;
                }
                eprintln!(
                    "[proxy] {}: downloading {} MiB (round {round}/{rounds})",
                    m.name,
                    body_bytes >> 20
                );
                let before = cpu_now(middle_pid(m))?;
                let machine_before = cpu::Machine::now()?;
                let d = match body_client {
                    BodyClient::Curl => m.curl.download(body_bytes),
                    BodyClient::Builtin => rt.block_on(load::download(&m.big, m.name, body_bytes)),
                };
                let d = match d {
                    Ok(d) => d,
                    Err(e) => {
                        if m.ours {
                            eprintln!(
                                "[proxy] last lines of the proxy's log:\n{}",
                                tail(&proxy.standalone.log_text(), 40)
                            );
                        }
                        return Err(e.context(format!("body download on mode {}", m.name)));
                    }
                };
                spent.add(cpu_now(middle_pid(m))?.since(before));
                eprintln!(
                    "[proxy] {}: {:.0} MB/s ({:.2}s, steal {:.1}%)",
                    m.name,
                    d.mb_per_s(),
                    d.seconds,
                    cpu::Machine::now()?.steal_percent_since(machine_before)
                );
                speed.push((d.mb_per_s(), d.seconds));
            }
        }
        let gib = (body_bytes as f64 / f64::from(1u32 << 30)) * rounds as f64;
        for ((row, spent), speed) in rows.iter_mut().zip(&body_cpu).zip(&speeds) {
            row.body_cpu_s_per_gib = (!speed.is_empty()).then(|| spent.per(gib));
        }
        for (row, speed) in rows.iter_mut().zip(speeds) {
            let mb: Vec<f64> = speed.iter().map(|s| s.0).collect();
            let secs: Vec<f64> = speed.iter().map(|s| s.1).collect();
            row.body_mb_s = report::median(&mb);
            row.body_runs_mb_s = mb;
            row.body_seconds = report::median(&secs);
        }
        rss.push((
            "peak after the body downloads (VmHWM)".to_string(),
            proxy.peak_rss_kib()?,
        ));
        steal.push((
            "body downloads".to_string(),
            cpu::Machine::now()?.steal_percent_since(body_start),
        ));
    }
    rss.push(("at the end (VmRSS)".to_string(), proxy.rss_kib()?));

    let p99_of = |name: &str| {
        rows.iter()
            .find(|r| r.mode == name)
            .map(|r| r.small.p99_ms)
            .unwrap_or(0.0)
    };
    let added: Vec<Option<f64>> = modes
        .iter()
        .zip(rows.iter())
        .map(|(m, r)| (m.baseline != m.name).then(|| r.small.p99_ms - p99_of(m.baseline)))
        .collect();
    for (row, a) in rows.iter_mut().zip(added) {
        row.added_p99_ms = a;
    }

    let some_fig = |name: &str| rows.iter().find(|r| r.mode == name).map(Figures::from);
    let fig = |name: &str| -> Figures { some_fig(name).expect("every mode has a row") };
    let figures = ProxyFigures {
        direct: fig("direct"),
        direct_tls: fig("direct-tls"),
        reverse: fig("ours-reverse"),
        anchor: fig("nginx-anchor"),
        anchor_tls: fig("nginx-anchor-tls"),
        forward: fig("ours-forward"),
        relay: some_fig("haproxy-tcp"),
        relay_tls: some_fig("haproxy-tls"),
        idle_rss_kib: rss[0].1,
    };
    let log = upstream.error_log() + &anchor.error_log();
    if log.contains("[error]") || log.contains("[crit]") {
        eprintln!("[proxy] nginx logged errors:\n{log}");
    }
    if let Some(log) = relay.as_ref().map(haproxy::Haproxy::log) {
        if log.contains("[ALERT]") {
            eprintln!("[proxy] haproxy logged alerts:\n{log}");
        }
    }
    drop(relay);
    drop(proxy);
    drop(anchor);
    drop(upstream);
    let paired = report::proxy_paired(&rows);
    Ok(ProxyReport {
        connections: args.connections,
        rounds: args.rounds.max(1),
        duration_s: args.duration.as_secs_f64(),
        body_bytes,
        upstream_workers: args.upstream_workers,
        anchor_workers: args.anchor_workers,
        congestion: Congestion {
            host: host_congestion_control(),
            senders: args.loopback_congestion.clone(),
        },
        modes: rows,
        rss,
        steal,
        ratios: report::proxy_ratios(&figures),
        paired,
        checks: report::proxy_checks(&figures),
    })
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The host's default TCP congestion control, when Linux says.
fn host_congestion_control() -> Option<String> {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
