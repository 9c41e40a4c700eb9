//! Private files in the data directory: a 0700 directory, 0600 files written
//! atomically, and a check that refuses files others may read.

use super::LocalError;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates `dir` (and missing parents) with mode 0700, or tightens an
/// existing directory that group or others may enter to 0700.
pub fn ensure_private_dir(dir: &Path) -> Result<(), LocalError> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(LocalError::Invalid(format!(
                "{} exists but is not a directory; pass another --data directory or move it away",
                dir.display()
            )))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| LocalError::io(dir, e))?;
        }
        Err(e) => return Err(LocalError::io(dir, e)),
    }
    let mode = std::fs::metadata(dir)
        .map_err(|e| LocalError::io(dir, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| LocalError::io(dir, e))?;
        tracing::warn!(
            dir = %dir.display(),
            previous_mode = %format!("{:o}", mode & 0o777),
            "the data directory was open to other users; its mode is now 0700"
        );
    }
    Ok(())
}

/// Writes `content` to `path` atomically with mode 0600 (replacing any
/// existing file).
pub fn write_private(path: &Path, content: &[u8]) -> Result<(), LocalError> {
    let tmp = write_temp(path, content)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        LocalError::io(path, e)
    })
}

/// Creates `path` with `content` and mode 0600 unless it already exists.
/// Readers never see a partial file, and of two processes creating the same
/// file at once exactly one wins. Returns whether this call created it.
pub(crate) fn create_private(path: &Path, content: &[u8]) -> Result<bool, LocalError> {
    let tmp = write_temp(path, content)?;
    let result = match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        // A file system without hard links: a rename is atomic for readers,
        // only the race between two creators is lost.
        Err(_) if !path.exists() => std::fs::rename(&tmp, path)
            .map(|_| true)
            .map_err(|e| LocalError::io(path, e)),
        Err(e) => Err(LocalError::io(path, e)),
    };
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Writes `content` to a fresh 0600 temporary file beside `path`.
fn write_temp(path: &Path, content: &[u8]) -> Result<PathBuf, LocalError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut suffix = [0u8; 6];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut suffix)
        .map_err(|_| LocalError::Key("the system random generator failed".into()))?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}-{suffix}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(content).and_then(|_| f.sync_all()));
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(LocalError::io(&tmp, e))
        }
    }
}

/// Refuses a private file that group or others may read.
pub fn check_private_mode(path: &Path) -> Result<(), LocalError> {
    let mode = std::fs::metadata(path)
        .map_err(|e| LocalError::io(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(LocalError::Key(format!(
            "{} is accessible to other users (mode {:o}); run `chmod 600 {}` and try again",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_dir_is_created_0700_and_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let err = ensure_private_dir(&file).unwrap_err().to_string();
        assert!(err.contains("not a directory"), "{err}");
    }

    #[test]
    fn private_files_are_0600_and_create_does_not_clobber() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("key");
        assert!(create_private(&path, b"first").unwrap());
        assert!(!create_private(&path, b"second").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(mode(&path), 0o600);
        write_private(&path, b"third").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"third");
        assert_eq!(mode(&path), 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("key")]);
    }

    #[test]
    fn readable_files_are_refused_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("key");
        write_private(&path, b"k").unwrap();
        check_private_mode(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = check_private_mode(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(err.contains("640"), "{err}");
    }
}
