//! Recognising a full disk in what the copy tools (rsync, pg_restore, mariadb) say, so
//! that it is reported as such, never as a partial success or an obscure failure.

/// Whether a tool's message says the disk, a quota or the server's table space is full.
pub(crate) fn says_disk_full(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("no space left on device")
        || lower.contains("disk quota exceeded")
        || lower.contains("could not extend file")
        || lower.contains("errcode: 28")
        || lower.contains("errno: 28")
        || lower.contains("disk full")
        || (lower.contains("the table") && lower.contains("is full"))
}
