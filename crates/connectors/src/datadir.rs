//! Files the standalone process keeps in its data directory, and how other
//! commands find the running process through them.

use anyhow::{Context, Result};
use connectors_catalog::local::{ensure_private_dir, write_private};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./.connectors";
/// Admin token of the local API (mode 0600).
const API_TOKEN_FILE: &str = "api-token";
/// Where the running process says where it listens.
const DISCOVERY_FILE: &str = "standalone.json";

/// What a running standalone process publishes about itself.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Discovery {
    /// Local API base URL.
    pub api: String,
    /// Proxy base URL.
    pub proxy: String,
    /// Process id.
    pub pid: u32,
}

/// Creates the data directory with mode 0700 when missing and tightens an
/// existing one that is open to others.
pub fn ensure(dir: &Path) -> Result<()> {
    Ok(ensure_private_dir(dir)?)
}

/// Reads the admin token, creating a random one (mode 0600) on first use.
pub fn admin_token_or_create(dir: &Path) -> Result<String> {
    let path = dir.join(API_TOKEN_FILE);
    if path.exists() {
        return read_admin_token(dir);
    }
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, token.as_bytes())?;
    Ok(token)
}

/// Reads the admin token of a data directory.
pub fn read_admin_token(dir: &Path) -> Result<String> {
    let path = dir.join(API_TOKEN_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {}: is `connectors standalone` running with --data {}?",
            path.display(),
            dir.display()
        )
    })?;
    Ok(text.trim().to_string())
}

/// Publishes where the process listens.
pub fn write_discovery(dir: &Path, d: &Discovery) -> Result<PathBuf> {
    let path = dir.join(DISCOVERY_FILE);
    let tmp = dir.join(format!(".{DISCOVERY_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(d)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Removes the discovery file (on shutdown).
pub fn remove_discovery(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(DISCOVERY_FILE));
}

/// Reads where the running process listens.
pub fn read_discovery(dir: &Path) -> Result<Discovery> {
    let path = dir.join(DISCOVERY_FILE);
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "no running standalone process found ({} is missing); start `connectors standalone --data {}` or pass --api",
            path.display(),
            dir.display()
        )
    })?;
    serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
}
