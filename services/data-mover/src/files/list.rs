//! [`FileList`]: relative paths handed to rsync's `--files-from`, NUL-separated
//! (`--from0`), so that any name (a newline in it included) is read as written.

use super::FileError;

/// A list file, removed when dropped.
pub(crate) struct FileList {
    path: std::path::PathBuf,
}

impl FileList {
    /// Writes `files` to a new temporary list.
    pub(crate) async fn write(files: &[String]) -> Result<Self, FileError> {
        let path = std::env::temp_dir().join(format!("ferry-files-{}", uuid::Uuid::now_v7()));
        let mut bytes = Vec::with_capacity(files.iter().map(|f| f.len() + 1).sum());
        for file in files {
            bytes.extend_from_slice(file.as_bytes());
            bytes.push(0);
        }
        tokio::fs::write(&path, bytes)
            .await
            .map_err(|e| FileError::io(format!("writing {}", path.display()), e))?;
        Ok(Self { path })
    }

    /// rsync's arguments reading this list.
    pub(crate) fn args(&self) -> [String; 2] {
        [
            "--from0".to_owned(),
            format!("--files-from={}", self.path.display()),
        ]
    }
}

impl Drop for FileList {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
