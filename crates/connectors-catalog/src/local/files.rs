//! Private files in the data directory.

use super::LocalError;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (mode 0700) or tightens an existing one open to others.
pub fn ensure_private_dir(dir: &Path) -> Result<(), LocalError> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| LocalError::io(dir, e))?;
    }
    let mode = std::fs::metadata(dir)
        .map_err(|e| LocalError::io(dir, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| LocalError::io(dir, e))?;
    }
    Ok(())
}

/// Writes `content` to `path` atomically with mode 0600.
pub fn write_private(path: &Path, content: &[u8]) -> Result<(), LocalError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| LocalError::io(&tmp, e))?;
    f.write_all(content)
        .and_then(|_| f.sync_all())
        .map_err(|e| LocalError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LocalError::io(path, e))
}

/// Refuses a private file that group or others may read.
pub fn check_private_mode(path: &Path) -> Result<(), LocalError> {
    let mode = std::fs::metadata(path)
        .map_err(|e| LocalError::io(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(LocalError::Key(format!(
            "{} is readable by other users (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}
