//! Body downloads by curl, the client people use to fetch a file: one
//! process per download, the body written to /dev/null, timed by curl
//! itself from the moment its request is ready to the last byte.

use crate::load::Download;
use anyhow::{bail, Context, Result};
use connectors_testkit::process::{find_program, output_with_timeout};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// What curl needs to fetch one mode's body.
#[derive(Clone, Debug)]
pub struct CurlGet {
    pub url: String,
    /// `Name: value` request headers.
    pub headers: Vec<String>,
    /// The CA that signs the server's (or the proxy's) certificate.
    pub cacert: Option<PathBuf>,
    /// A forward proxy and the `user:password` of its Basic auth.
    pub proxy: Option<(String, String)>,
}

/// Whether curl can be run.
pub fn available() -> bool {
    find_program("curl").is_ok()
}

/// The `-w` format: status, bytes, the time the request was ready to go
/// out (after connect, CONNECT and TLS) and the total time.
const WRITE_OUT: &str = "%{http_code} %{size_download} %{time_pretransfer} %{time_total}";

impl CurlGet {
    /// The command line, without the program.
    fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "--silent",
            "--show-error",
            "--http1.1",
            "--output",
            "/dev/null",
            "--write-out",
            WRITE_OUT,
        ]
        .map(String::from)
        .to_vec();
        for h in &self.headers {
            a.extend(["--header".into(), h.clone()]);
        }
        if let Some(ca) = &self.cacert {
            a.extend(["--cacert".into(), ca.display().to_string()]);
        }
        match &self.proxy {
            Some((proxy, user)) => {
                a.extend(["--proxy".into(), proxy.clone()]);
                a.extend(["--proxy-user".into(), user.clone()]);
            }
            // Proxy variables of the environment must not reroute it.
            None => a.extend(["--noproxy".into(), "*".into()]),
        }
        a.push(self.url.clone());
        a
    }

    /// Downloads the body and checks it is `expect` bytes with a 200.
    pub fn download(&self, expect: u64) -> Result<Download> {
        let mut cmd = Command::new(find_program("curl")?);
        cmd.args(self.args());
        let out = output_with_timeout(&mut cmd, Duration::from_secs(600))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "curl {} failed ({}): {}",
                self.url,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let d = parse(&stdout).with_context(|| format!("curl printed {stdout:?}"))?;
        if d.bytes != expect {
            bail!(
                "curl {}: received {} bytes, expected {expect}",
                self.url,
                d.bytes
            );
        }
        Ok(d)
    }
}

/// Reads [`WRITE_OUT`]; anything but a 200 is an error.
fn parse(text: &str) -> Result<Download> {
    let f: Vec<&str> = text.split_whitespace().collect();
    let [code, bytes, ready, total] = f[..] else {
        bail!("expected four fields");
    };
    if code != "200" {
        bail!("the answer was {code}, not 200");
    }
    let bytes: u64 = bytes.parse()?;
    let (ready, total): (f64, f64) = (ready.parse()?, total.parse()?);
    Ok(Download {
        bytes,
        seconds: (total - ready).max(f64::EPSILON),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_its_write_out() {
        let d = parse("200 1073741824 0.001500 0.251500").unwrap();
        assert_eq!(d.bytes, 1 << 30);
        assert!((d.seconds - 0.25).abs() < 1e-9);
        assert!(parse("407 0 0.001 0.002").is_err());
        assert!(parse("200 12").is_err());
        assert!(parse("200 x 0.1 0.2").is_err());
    }

    #[test]
    fn a_direct_get_ignores_proxy_variables_and_a_proxied_one_authenticates() {
        let mut g = CurlGet {
            url: "https://127.0.0.1:1/big.bin".into(),
            headers: vec!["Authorization: Basic x".into()],
            cacert: Some("/d/ca.pem".into()),
            proxy: None,
        };
        let a = g.args().join(" ");
        assert!(a.contains("--noproxy *"), "{a}");
        assert!(a.contains("--header Authorization: Basic x"), "{a}");
        assert!(a.contains("--cacert /d/ca.pem"), "{a}");
        assert!(a.ends_with(" https://127.0.0.1:1/big.bin"), "{a}");
        g.proxy = Some(("http://127.0.0.1:2".into(), "ns/c:tok".into()));
        let a = g.args().join(" ");
        assert!(!a.contains("--noproxy"), "{a}");
        assert!(
            a.contains("--proxy http://127.0.0.1:2 --proxy-user ns/c:tok"),
            "{a}"
        );
    }

    #[test]
    fn a_refused_download_says_what_curl_said() {
        let port = connectors_testkit::free_port();
        let g = CurlGet {
            url: format!("http://127.0.0.1:{port}/big.bin"),
            headers: Vec::new(),
            cacert: None,
            proxy: None,
        };
        let e = format!("{:#}", g.download(1).unwrap_err());
        assert!(e.contains("curl http://127.0.0.1:"), "{e}");
        assert!(e.to_lowercase().contains("connect"), "{e}");
    }
}
