//! Reading the manifest directory: one state per file, keeping the last
//! good objects of a file that became invalid or unreadable.

use super::store::Desired;
use super::LoadProblem;
use crate::snapshot::ObjectRef;
use connectors_core::classes::builtin_classes;
use connectors_core::manifest::{parse_manifest, DocumentContent, Object};
use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Files larger than this are not read (a manifest directory holds small
/// YAML files; a huge file is a mistake, e.g. a log written to the wrong
/// place).
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// A file whose timestamps are this close to the moment it was read may
/// have been written again within the file system's timestamp granularity;
/// its stat data cannot prove it unchanged, so it is hashed again.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// How long a file that keeps changing may be deferred (see
/// [`Loader::scan`]) before it is read anyway.
const MAX_DEFER: Duration = Duration::from_secs(1);

/// What `stat` says about a file; equal stamps (outside the racy window)
/// mean an unchanged file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether the file was last changed well before `read_at`.
    fn settled_before(&self, read_at: SystemTime) -> bool {
        self.settled_before_by(read_at, RACY_WINDOW)
    }

    /// Whether the file changed less than `window` before `now`.
    fn changed_within(&self, window: Duration, now: SystemTime) -> bool {
        !self.settled_before_by(now, window)
    }

    /// Whether the file last changed at least `window` before `at`.
    fn settled_before_by(&self, at: SystemTime, window: Duration) -> bool {
        let newest = self.mtime.max(self.ctime);
        let Ok(secs) = u64::try_from(newest.0) else {
            return true;
        };
        let changed = UNIX_EPOCH + Duration::new(secs, newest.1.clamp(0, 999_999_999) as u32);
        changed + window <= at
    }
}

/// The last content read from a file.
struct Content {
    stamp: Stamp,
    read_at: SystemTime,
    hash: [u8; 32],
    /// Problems of this content (empty when every document was good).
    problems: Vec<LoadProblem>,
}

/// What is known about one file.
#[derive(Default)]
struct FileState {
    /// The last content read, if any read succeeded.
    content: Option<Content>,
    /// Objects of the last good content, with their document index.
    objects: Vec<(usize, Object)>,
    /// Why the file could not be read just now (its last good objects are
    /// kept meanwhile).
    failure: Option<LoadProblem>,
    /// Whether the "others may read this Secret" warning was given.
    mode_warned: bool,
    /// Since when reading a changed file has been put off because it was
    /// still being written.
    deferred_since: Option<SystemTime>,
}

impl FileState {
    fn problems(&self) -> impl Iterator<Item = &LoadProblem> {
        let content = match (&self.failure, &self.content) {
            (None, Some(c)) => c.problems.as_slice(),
            _ => &[],
        };
        self.failure.iter().chain(content)
    }

    fn holds_secret(&self) -> bool {
        self.objects
            .iter()
            .any(|(_, o)| matches!(o, Object::Secret(_)))
    }

    /// Whether the stat data proves the file unchanged since its content
    /// was last read successfully.
    fn is_current(&self, stamp: &Stamp) -> bool {
        self.failure.is_none()
            && self
                .content
                .as_ref()
                .is_some_and(|c| c.stamp == *stamp && stamp.settled_before(c.read_at))
    }

    /// Whether reading the changed file is put off because it changed less
    /// than `settle` ago, for at most [`MAX_DEFER`] in a row. Clears the
    /// deferral when the file is to be read now.
    fn put_off(&mut self, stamp: &Stamp, settle: Duration) -> bool {
        let now = SystemTime::now();
        if !settle.is_zero() && stamp.changed_within(settle, now) {
            let since = *self.deferred_since.get_or_insert(now);
            if now.duration_since(since).unwrap_or_default() < MAX_DEFER {
                return true;
            }
        }
        self.deferred_since = None;
        false
    }

    /// Whether the bytes just read hash like the last content; if so, their
    /// stat data and read time are recorded.
    fn refresh_if_same(&mut self, hash: [u8; 32], stamp: Stamp, read_at: SystemTime) -> bool {
        match &mut self.content {
            Some(c) if c.hash == hash => {
                c.stamp = stamp;
                c.read_at = read_at;
                true
            }
            _ => false,
        }
    }

    /// Parses new content of the file. Its objects replace the last good
    /// ones only when it has no problems.
    fn replace_content(
        &mut self,
        path: &Path,
        bytes: &[u8],
        stamp: Stamp,
        read_at: SystemTime,
        hash: [u8; 32],
    ) {
        let (objects, problems) = parse_file(path, bytes);
        let was_bad = self
            .content
            .as_ref()
            .is_some_and(|c| !c.problems.is_empty());
        if problems.is_empty() {
            if was_bad {
                tracing::info!(file = %path.display(), "manifest file is valid again");
            }
            self.objects = objects;
        } else {
            for p in &problems {
                tracing::warn!(
                    file = %path.display(),
                    document = p.document,
                    reason = %p.message,
                    "manifest rejected; the file's last good objects are kept"
                );
            }
        }
        self.content = Some(Content {
            stamp,
            read_at,
            hash,
            problems,
        });
    }
}

/// Manifest files under a directory, and subdirectories that could not be
/// listed.
struct Listing {
    files: Vec<PathBuf>,
    unreadable_dirs: Vec<(PathBuf, String)>,
}

/// The manifest directory and what each file held.
pub struct Loader {
    dir: PathBuf,
    files: BTreeMap<PathBuf, FileState>,
    /// Subdirectories that could not be listed, with the reason.
    unreadable_dirs: BTreeMap<PathBuf, String>,
    /// Whether listing the directory itself is failing (warned once).
    listing_failed: bool,
    /// Duplicate definitions already warned about.
    warned_duplicates: HashSet<(PathBuf, usize, String)>,
}

impl Loader {
    /// A loader of `dir`; nothing is read until [`scan`](Self::scan).
    pub fn new(dir: &Path) -> Loader {
        Loader {
            dir: dir.to_path_buf(),
            files: BTreeMap::new(),
            unreadable_dirs: BTreeMap::new(),
            listing_failed: false,
            warned_duplicates: HashSet::new(),
        }
    }

    /// Re-reads changed files. Returns whether any file's objects or
    /// problems may have changed.
    ///
    /// A file changed less than `settle` ago may still be in the middle of
    /// being written (e.g. truncated, not yet filled): it is left as it was
    /// and [`pending`](Self::pending) says to scan again shortly, for at
    /// most a second. `Duration::ZERO` reads every changed file now.
    pub fn scan(&mut self, settle: Duration) -> bool {
        let listing = match list_manifests(&self.dir) {
            Ok(l) => {
                if std::mem::take(&mut self.listing_failed) {
                    tracing::info!(dir = %self.dir.display(), "the manifest directory can be read again");
                }
                l
            }
            Err(e) => {
                if !std::mem::replace(&mut self.listing_failed, true) {
                    tracing::warn!(
                        dir = %self.dir.display(),
                        error = %e,
                        "cannot list the manifest directory; keeping what was loaded until it can be read again"
                    );
                }
                return false;
            }
        };
        let mut changed = false;
        let unreadable: BTreeMap<PathBuf, String> = listing.unreadable_dirs.into_iter().collect();
        if unreadable != self.unreadable_dirs {
            for (dir, reason) in &unreadable {
                if self.unreadable_dirs.get(dir) != Some(reason) {
                    tracing::warn!(
                        file = %dir.display(),
                        reason = %reason,
                        "cannot list a manifest subdirectory; the files below it keep their last loaded objects"
                    );
                }
            }
            self.unreadable_dirs = unreadable;
            changed = true;
        }
        let present: HashSet<&PathBuf> = listing.files.iter().collect();
        let gone: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| !present.contains(p))
            .filter(|p| !self.unreadable_dirs.keys().any(|d| p.starts_with(d)))
            .cloned()
            .collect();
        for p in gone {
            tracing::info!(file = %p.display(), "manifest file removed; its objects are gone");
            self.files.remove(&p);
            changed = true;
        }
        for path in &listing.files {
            changed |= self.scan_file(path, settle);
        }
        changed
    }

    /// Whether a changed file was put off by the last scan.
    pub fn pending(&self) -> bool {
        self.files.values().any(|f| f.deferred_since.is_some())
    }

    /// Re-reads one file if its stat data or content changed. Returns
    /// whether its objects or problems changed.
    fn scan_file(&mut self, path: &Path, settle: Duration) -> bool {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            // Removed since it was listed (e.g. mid-save): the next scan,
            // which its removal or re-creation triggers, settles it.
            Err(e) if vanished(path, &e) => return false,
            Err(e) => return self.fail(path, format!("cannot read the file: {e}")),
        };
        let stamp = Stamp::of(&meta);
        let state = self.files.entry(path.to_path_buf()).or_default();
        if state.is_current(&stamp) {
            state.deferred_since = None;
            return false;
        }
        if state.put_off(&stamp, settle) {
            return false;
        }
        // Mode changes show in the stamp (ctime), so this runs after chmod.
        let mode = meta.permissions().mode();
        let (bytes, read_at) = match read_manifest(path, meta.len()) {
            Ok(read) => read,
            Err(ReadFailure::Vanished) => return false,
            Err(ReadFailure::Problem(message)) => return self.fail(path, message),
        };
        let hash = sha256(&bytes);
        let state = self.files.entry(path.to_path_buf()).or_default();
        let recovered = state.failure.take().is_some();
        if recovered {
            tracing::info!(file = %path.display(), "manifest file can be read again");
        }
        let unchanged = state.refresh_if_same(hash, stamp, read_at);
        if !unchanged {
            state.replace_content(path, &bytes, stamp, read_at, hash);
        }
        warn_if_exposed(state, path, mode);
        recovered || !unchanged
    }

    /// Records that a file could not be read; its last good objects stay.
    fn fail(&mut self, path: &Path, message: String) -> bool {
        let state = self.files.entry(path.to_path_buf()).or_default();
        let problem = LoadProblem {
            file: path.to_path_buf(),
            document: None,
            message,
        };
        if state.failure.as_ref() == Some(&problem) {
            return false;
        }
        tracing::warn!(
            file = %path.display(),
            reason = %problem.message,
            "manifest file not loaded; its last good objects are kept"
        );
        state.failure = Some(problem);
        true
    }

    /// The objects to serve: built-in classes, then every file's objects in
    /// path order (a file class replaces a built-in one; among files the
    /// first definition wins, later ones are problems), plus the current
    /// problems.
    pub fn desired(&mut self) -> (Desired, Vec<LoadProblem>) {
        let mut d = Desired::default();
        let mut problems: Vec<LoadProblem> = self
            .unreadable_dirs
            .iter()
            .map(|(dir, reason)| LoadProblem {
                file: dir.clone(),
                document: None,
                message: format!(
                    "cannot list the directory ({reason}); the files below it keep their last loaded objects"
                ),
            })
            .collect();
        for c in builtin_classes() {
            if let Some(name) = c.metadata.name.clone() {
                d.classes.insert(name, c);
            }
        }
        let mut first_seen: BTreeMap<String, (PathBuf, usize)> = BTreeMap::new();
        let mut duplicates = HashSet::new();
        for (path, state) in &self.files {
            problems.extend(state.problems().cloned());
            for (index, object) in &state.objects {
                let key = object.key();
                let label = key.to_string();
                if let Some((first, doc)) = first_seen.get(&label) {
                    let problem = LoadProblem {
                        file: path.clone(),
                        document: Some(*index),
                        message: format!(
                            "{label}: defined again (first at {}: document {doc}); this definition is ignored, keep one definition",
                            first.display()
                        ),
                    };
                    let id = (path.clone(), *index, label);
                    if !self.warned_duplicates.contains(&id) {
                        tracing::warn!(
                            file = %path.display(),
                            document = *index,
                            reason = %problem.message,
                            "duplicate object ignored"
                        );
                    }
                    duplicates.insert(id);
                    problems.push(problem);
                    continue;
                }
                first_seen.insert(label, (path.clone(), *index));
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
        self.warned_duplicates = duplicates;
        (d, problems)
    }
}

/// Whether `path` no longer exists at all (as opposed to a link whose
/// target is missing, which is reported).
fn vanished(path: &Path, e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound && std::fs::symlink_metadata(path).is_err()
}

/// Why a file's bytes were not read.
enum ReadFailure {
    /// The file no longer exists (nothing to report).
    Vanished,
    /// The file cannot be loaded, for this reason.
    Problem(String),
}

/// Reads a file whose size is `len` unless that exceeds
/// [`MAX_MANIFEST_BYTES`]; returns its bytes and when the read began.
fn read_manifest(path: &Path, len: u64) -> Result<(Vec<u8>, SystemTime), ReadFailure> {
    if len > MAX_MANIFEST_BYTES {
        return Err(ReadFailure::Problem(format!(
            "the file is {len} bytes; manifests larger than {MAX_MANIFEST_BYTES} bytes are not loaded"
        )));
    }
    let read_at = SystemTime::now();
    match std::fs::read(path) {
        Ok(bytes) => Ok((bytes, read_at)),
        Err(e) if vanished(path, &e) => Err(ReadFailure::Vanished),
        Err(e) => Err(ReadFailure::Problem(format!("cannot read the file: {e}"))),
    }
}

/// The SHA-256 digest of `bytes`.
fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    hash
}

/// Parses a file's bytes into its objects and problems.
fn parse_file(path: &Path, bytes: &[u8]) -> (Vec<(usize, Object)>, Vec<LoadProblem>) {
    let mut objects = Vec::new();
    let mut problems = Vec::new();
    let Ok(text) = std::str::from_utf8(bytes) else {
        problems.push(LoadProblem {
            file: path.to_path_buf(),
            document: None,
            message: "the file is not UTF-8 text; save it as UTF-8".into(),
        });
        return (objects, problems);
    };
    for doc in parse_manifest(text) {
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
    (objects, problems)
}

/// Warns (once until fixed) when a file that holds a Secret may be read by
/// group or others.
fn warn_if_exposed(state: &mut FileState, path: &Path, mode: u32) {
    let exposed = mode & 0o077 != 0 && state.holds_secret();
    if exposed && !state.mode_warned {
        tracing::warn!(
            file = %path.display(),
            mode = %format!("{:o}", mode & 0o777),
            "this file holds a Secret and other users may read it; run `chmod 600` on it"
        );
    }
    state.mode_warned = exposed;
}

/// Manifest files (`.yaml`, `.yml`, `.json`) below `dir` in path order.
/// Hidden entries are skipped; symbolic links are followed, each directory
/// is visited once. Fails only when `dir` itself cannot be listed.
fn list_manifests(dir: &Path) -> std::io::Result<Listing> {
    let mut listing = Listing {
        files: Vec::new(),
        unreadable_dirs: Vec::new(),
    };
    let mut visited = HashSet::new();
    let root = std::fs::metadata(dir)?;
    visited.insert((root.dev(), root.ino()));
    let mut stack = vec![(dir.to_path_buf(), std::fs::read_dir(dir)?)];
    while let Some((d, entries)) = stack.pop() {
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    listing.unreadable_dirs.push((d.clone(), e.to_string()));
                    break;
                }
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let is_manifest =
                name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json");
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    if !visited.insert((meta.dev(), meta.ino())) {
                        continue;
                    }
                    match std::fs::read_dir(&path) {
                        Ok(rd) => stack.push((path, rd)),
                        Err(e) => listing.unreadable_dirs.push((path, e.to_string())),
                    }
                }
                // Regular files, and entries that cannot be inspected (e.g. a
                // dangling link) so that they are reported rather than
                // silently dropped.
                Ok(_) | Err(_) if is_manifest => listing.files.push(path),
                _ => {}
            }
        }
    }
    listing.files.sort();
    listing.unreadable_dirs.sort();
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_skips_hidden_entries_and_other_extensions_and_survives_link_loops() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        for f in [
            "a.yaml",
            "b.yml",
            "c.json",
            "notes.txt",
            ".swap.yaml",
            "sub/d.yaml",
            "sub/deeper/e.yml",
            ".hidden/f.yaml",
        ] {
            std::fs::write(root.join(f), "").unwrap();
        }
        std::os::unix::fs::symlink(root, root.join("sub/loop")).unwrap();
        let l = list_manifests(root).unwrap();
        let names: Vec<String> = l
            .files
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "a.yaml",
                "b.yml",
                "c.json",
                "sub/d.yaml",
                "sub/deeper/e.yml"
            ]
        );
        assert!(l.unreadable_dirs.is_empty());
    }

    #[test]
    fn a_dangling_link_is_a_problem_and_a_vanished_file_is_not() {
        let tmp = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(tmp.path().join("missing.yaml"), tmp.path().join("a.yaml"))
            .unwrap();
        let mut loader = Loader::new(tmp.path());
        assert!(loader.scan(Duration::ZERO));
        let problems = loader.desired().1;
        assert_eq!(problems.len(), 1);
        assert!(problems[0].file.ends_with("a.yaml"));
        assert!(
            problems[0].message.contains("cannot read the file"),
            "{}",
            problems[0]
        );
        assert!(!loader.scan_file(&tmp.path().join("gone.yaml"), Duration::ZERO));
        assert!(!loader.files.contains_key(&tmp.path().join("gone.yaml")));
    }

    #[test]
    fn stamps_close_to_the_read_are_not_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("a.yaml");
        std::fs::write(&f, "x").unwrap();
        let stamp = Stamp::of(&std::fs::metadata(&f).unwrap());
        assert!(!stamp.settled_before(SystemTime::now()));
        assert!(stamp.settled_before(SystemTime::now() + Duration::from_secs(3)));
    }

    #[test]
    fn same_size_rewrites_within_one_timestamp_tick_are_noticed() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("a.yaml");
        let secret = |pw: &str| {
            format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData: {{password: {pw}}}\n")
        };
        std::fs::write(&f, secret("aaaa")).unwrap();
        let mut loader = Loader::new(tmp.path());
        assert!(loader.scan(Duration::ZERO));
        // Same length, immediately: mtime may well be identical.
        std::fs::write(&f, secret("bbbb")).unwrap();
        assert!(loader.scan(Duration::ZERO));
        let (d, _) = loader.desired();
        let s = &d.secrets[&ObjectRef::new("default", "s")];
        assert_eq!(connectors_types::secret::string_data(s)["password"], "bbbb");
        // Re-reading identical content reports no change.
        assert!(!loader.scan(Duration::ZERO));
    }

    #[test]
    fn files_still_being_written_are_put_off_for_at_most_a_second() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("a.yaml");
        let secret = |pw: &str| {
            format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData: {{password: {pw}}}\n")
        };
        std::fs::write(&f, secret("old")).unwrap();
        let mut loader = Loader::new(tmp.path());
        loader.scan(Duration::ZERO);
        assert!(!loader.pending());
        // Truncated, as by a writer that has not written the new text yet.
        std::fs::write(&f, "").unwrap();
        let long = Duration::from_secs(60);
        assert!(!loader.scan(long), "a fresh change is put off");
        assert!(loader.pending());
        let password = |l: &mut Loader| {
            l.desired()
                .0
                .secrets
                .get(&ObjectRef::new("default", "s"))
                .map(|s| connectors_types::secret::string_data(s)["password"].clone())
        };
        assert_eq!(password(&mut loader).as_deref(), Some("old"));
        std::fs::write(&f, secret("new")).unwrap();
        std::thread::sleep(MAX_DEFER + Duration::from_millis(50));
        assert!(loader.scan(long), "read anyway after a second");
        assert!(!loader.pending());
        assert_eq!(password(&mut loader).as_deref(), Some("new"));
    }

    #[test]
    fn a_file_that_cannot_be_read_keeps_its_objects_and_recovers() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("a.yaml");
        std::fs::write(
            &f,
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: p}\n",
        )
        .unwrap();
        let mut loader = Loader::new(tmp.path());
        loader.scan(Duration::ZERO);
        // Not UTF-8: a problem, the last good Secret stays.
        std::fs::write(&f, b"\xff\xfe kind: Secret").unwrap();
        assert!(loader.scan(Duration::ZERO));
        let (d, problems) = loader.desired();
        assert_eq!(d.secrets.len(), 1);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("UTF-8"), "{}", problems[0]);
        assert_eq!(problems[0].document, None);
        std::fs::write(
            &f,
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: p}\n",
        )
        .unwrap();
        assert!(loader.scan(Duration::ZERO));
        assert!(loader.desired().1.is_empty());
    }
}
