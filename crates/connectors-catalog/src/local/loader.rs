//! Reading the manifest directory: one state per file, keeping the last
//! good objects of a file that became invalid.

use super::store::Desired;
use super::LoadProblem;
use crate::snapshot::ObjectRef;
use connectors_core::classes::builtin_classes;
use connectors_core::manifest::{parse_manifest, DocumentContent, Object};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What was last read from one file.
struct FileState {
    stamp: (Option<SystemTime>, u64),
    hash: u64,
    /// Objects of the last good parse, with their document index.
    objects: Vec<(usize, Object)>,
    /// Problems of the latest read (empty when it was good).
    problems: Vec<LoadProblem>,
}

/// The manifest directory and what each file held.
pub struct Loader {
    dir: PathBuf,
    files: BTreeMap<PathBuf, FileState>,
    warned_modes: HashSet<PathBuf>,
}

impl Loader {
    /// A loader of `dir`; nothing is read until [`scan`](Self::scan).
    pub fn new(dir: &Path) -> Loader {
        Loader {
            dir: dir.to_path_buf(),
            files: BTreeMap::new(),
            warned_modes: HashSet::new(),
        }
    }

    /// Re-reads changed files. Returns whether any file's objects or
    /// problems changed.
    pub fn scan(&mut self) -> bool {
        let paths = match list_manifests(&self.dir) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot list the manifest directory; keeping what was loaded");
                return false;
            }
        };
        let mut changed = false;
        let present: HashSet<&PathBuf> = paths.iter().collect();
        let gone: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| !present.contains(p))
            .cloned()
            .collect();
        for p in gone {
            tracing::info!(file = %p.display(), "manifest file removed; its objects are gone");
            self.files.remove(&p);
            changed = true;
        }
        for path in &paths {
            changed |= self.scan_file(path);
        }
        changed
    }

    fn scan_file(&mut self, path: &Path) -> bool {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return self.record_failure(path, format!("cannot read: {e}")),
        };
        let stamp = (meta.modified().ok(), meta.len());
        if let Some(state) = self.files.get(path) {
            if state.stamp == stamp {
                return false;
            }
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return self.record_failure(path, format!("cannot read: {e}")),
        };
        let mut hasher = DefaultHasher::new();
        bytes.hash(&mut hasher);
        let hash = hasher.finish();
        if let Some(state) = self.files.get_mut(path) {
            if state.hash == hash {
                state.stamp = stamp;
                return false;
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let mut objects = Vec::new();
        let mut problems = Vec::new();
        for doc in parse_manifest(&text) {
            match doc.content {
                DocumentContent::Object(o) => objects.push((doc.index, o)),
                DocumentContent::Invalid(message) => problems.push(LoadProblem {
                    file: path.to_path_buf(),
                    document: Some(doc.index),
                    message,
                }),
                DocumentContent::Ignored { kind, name, .. } => tracing::debug!(
                    file = %path.display(),
                    document = doc.index,
                    kind = %kind,
                    name = %name,
                    "ignoring a document of a kind connectors does not use"
                ),
            }
        }
        if objects.iter().any(|(_, o)| matches!(o, Object::Secret(_)))
            && meta.permissions().mode() & 0o077 != 0
            && self.warned_modes.insert(path.to_path_buf())
        {
            tracing::warn!(
                file = %path.display(),
                "this file holds a Secret and other users may read it; run `chmod 600` on it"
            );
        }
        let previous = self.files.remove(path);
        let state = if problems.is_empty() {
            if previous
                .as_ref()
                .map(|p| !p.problems.is_empty())
                .unwrap_or(false)
            {
                tracing::info!(file = %path.display(), "manifest file is valid again");
            }
            FileState {
                stamp,
                hash,
                objects,
                problems,
            }
        } else {
            for p in &problems {
                tracing::warn!(
                    file = %path.display(),
                    document = p.document.unwrap_or(0),
                    reason = %p.message,
                    "manifest document rejected; the file's last good objects are kept"
                );
            }
            FileState {
                stamp,
                hash,
                objects: previous.map(|p| p.objects).unwrap_or_default(),
                problems,
            }
        };
        self.files.insert(path.to_path_buf(), state);
        true
    }

    fn record_failure(&mut self, path: &Path, message: String) -> bool {
        tracing::warn!(file = %path.display(), reason = %message, "manifest file not loaded; its last good objects are kept");
        let state = self.files.entry(path.to_path_buf()).or_insert(FileState {
            stamp: (None, u64::MAX),
            hash: 0,
            objects: Vec::new(),
            problems: Vec::new(),
        });
        let problem = LoadProblem {
            file: path.to_path_buf(),
            document: None,
            message,
        };
        if state.problems == [problem.clone()] {
            return false;
        }
        state.problems = vec![problem];
        state.stamp = (None, u64::MAX);
        true
    }

    /// The objects to serve: built-in classes, then every file's objects in
    /// path order (a file class replaces a built-in one; among files the
    /// first definition wins), plus the problems of the current state.
    pub fn desired(&self) -> (Desired, Vec<LoadProblem>) {
        let mut d = Desired::default();
        let mut problems = Vec::new();
        for c in builtin_classes() {
            if let Some(name) = c.metadata.name.clone() {
                d.classes.insert(name, c);
            }
        }
        let mut from_files: BTreeMap<String, (PathBuf, usize)> = BTreeMap::new();
        for (path, state) in &self.files {
            problems.extend(state.problems.iter().cloned());
            for (index, object) in &state.objects {
                let key = object.key();
                let label = key.to_string();
                if let Some((first, doc)) = from_files.get(&label) {
                    problems.push(LoadProblem {
                        file: path.clone(),
                        document: Some(*index),
                        message: format!(
                            "{label} is defined again (first at {}: document {doc}); this definition is ignored",
                            first.display()
                        ),
                    });
                    continue;
                }
                from_files.insert(label, (path.clone(), *index));
                match object {
                    Object::Connector(c) => {
                        d.connectors
                            .insert(ObjectRef::new(key.namespace, key.name), (**c).clone());
                    }
                    Object::ConnectorClass(c) => {
                        d.classes.insert(key.name, (**c).clone());
                    }
                    Object::Secret(s) => {
                        d.secrets
                            .insert(ObjectRef::new(key.namespace, key.name), (**s).clone());
                    }
                }
            }
        }
        (d, problems)
    }
}

/// Manifest files below `dir` in path order; hidden entries are skipped.
fn list_manifests(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
