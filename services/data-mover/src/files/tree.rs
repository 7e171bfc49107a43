//! [`TreeSize`]: how much a local tree holds.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::FileError;
use super::rsync::is_remote;

/// The size of a local directory tree, for progress totals and estimates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeSize {
    /// Regular files (each name of a hard-linked file counts).
    pub files: u64,
    /// Directories, the root included.
    pub directories: u64,
    /// Symbolic links (not followed).
    pub symlinks: u64,
    /// Bytes of the regular files' contents, each hard-linked file counted once (as
    /// rsync `-H` sends and stores it).
    pub bytes: u64,
}

impl TreeSize {
    /// Measures the local tree at `root`, without following symlinks.
    ///
    /// # Errors
    /// [`FileError::NotLocal`] for a `host:/path`; [`FileError::SourceMissing`] if
    /// `root` does not exist; [`FileError::Io`] if an entry cannot be read.
    pub async fn measure(root: &str) -> Result<Self, FileError> {
        if is_remote(root) {
            return Err(FileError::NotLocal(root.to_owned()));
        }
        let root_owned = root.to_owned();
        tokio::task::spawn_blocking(move || Self::measure_blocking(&root_owned))
            .await
            .map_err(|e| FileError::io(format!("measuring {root}"), std::io::Error::other(e)))?
    }

    fn measure_blocking(root: &str) -> Result<Self, FileError> {
        let read_error = |path: &PathBuf, e: std::io::Error| {
            FileError::io(format!("reading {}", path.display()), e)
        };
        let root_path = PathBuf::from(root);
        match std::fs::symlink_metadata(&root_path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(FileError::SourceMissing {
                    path: root.to_owned(),
                    detail: "not a directory".to_owned(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(FileError::SourceMissing {
                    path: root.to_owned(),
                    detail: e.to_string(),
                });
            }
            Err(e) => return Err(read_error(&root_path, e)),
        }
        let mut size = Self {
            directories: 1,
            ..Self::default()
        };
        let mut inodes = HashSet::new();
        let mut pending = vec![root_path];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).map_err(|e| read_error(&dir, e))? {
                let entry = entry.map_err(|e| read_error(&dir, e))?;
                let path = entry.path();
                let meta = std::fs::symlink_metadata(&path).map_err(|e| read_error(&path, e))?;
                let kind = meta.file_type();
                if kind.is_dir() {
                    size.directories += 1;
                    pending.push(path);
                } else if kind.is_symlink() {
                    size.symlinks += 1;
                } else if kind.is_file() {
                    size.files += 1;
                    if meta.nlink() <= 1 || inodes.insert((meta.dev(), meta.ino())) {
                        size.bytes += meta.len();
                    }
                }
            }
        }
        Ok(size)
    }
}
