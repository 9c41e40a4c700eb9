//! Reading manifests from files, directories and standard input.

use anyhow::{Context, Result};
use connectors_core::inventory::Inventory;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Loads every manifest under `paths` into an inventory that also holds the
/// built-in classes. Unreadable paths are errors; bad documents become
/// findings of the inventory.
pub fn load_inventory(paths: &[PathBuf]) -> Result<Inventory> {
    let mut inv = Inventory::with_builtins();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading manifests from standard input")?;
            inv.add_manifest("<stdin>", &text);
            continue;
        }
        for file in manifest_files(path)? {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let text = String::from_utf8_lossy(&bytes);
            inv.add_manifest(&file.display().to_string(), &text);
        }
    }
    Ok(inv)
}

/// The manifest files of a path: the file itself, or the `.yaml`, `.yml` and
/// `.json` files below a directory in name order (hidden entries skipped).
pub fn manifest_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{}: no such file or directory", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|e| e.ok())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries.into_iter().rev() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if is_manifest_name(&name) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Whether a file name looks like a manifest.
pub fn is_manifest_name(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json")
}
