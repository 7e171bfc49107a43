//! rsync's `--stats` block.

/// The figures of one rsync run's `--stats` block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Regular files in the source tree.
    pub regular_files: u64,
    /// Size of the source tree's regular files (a hard-linked file counts per name).
    pub total_file_size: u64,
    /// Regular files sent (new or changed).
    pub files_transferred: u64,
    /// Entries created at the destination.
    pub files_created: u64,
    /// Entries deleted at the destination.
    pub files_deleted: u64,
    /// File data actually sent (not matched by the delta algorithm).
    pub literal_data: u64,
    /// Bytes sent over the connection, protocol included.
    pub bytes_sent: u64,
    /// Bytes received over the connection.
    pub bytes_received: u64,
}

/// Reads the figures from the lines rsync printed; missing figures stay 0.
pub(crate) fn parse_stats<'a>(lines: impl IntoIterator<Item = &'a str>) -> Stats {
    let mut stats = Stats::default();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let field = match name.trim() {
            "Number of files" => {
                // "7 (reg: 3, dir: 3, link: 1)"; no "reg:" when there are none.
                stats.regular_files = value.split_once("reg:").map_or(0, |(_, rest)| number(rest));
                continue;
            }
            "Total file size" => &mut stats.total_file_size,
            "Number of regular files transferred" => &mut stats.files_transferred,
            "Number of created files" => &mut stats.files_created,
            "Number of deleted files" => &mut stats.files_deleted,
            "Literal data" => &mut stats.literal_data,
            "Total bytes sent" => &mut stats.bytes_sent,
            "Total bytes received" => &mut stats.bytes_received,
            _ => continue,
        };
        *field = number(value);
    }
    stats
}

/// The first number of `text`, thousands separators skipped: `" 3,000,938 bytes"`.
fn number(text: &str) -> u64 {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_stats_block() {
        let text = "Number of files: 7 (reg: 3, dir: 3, link: 1)
Number of created files: 2 (reg: 1, dir: 1)
Number of deleted files: 0
Number of regular files transferred: 1
Total file size: 43,000,006 bytes
Total transferred file size: 3,000,003 bytes
Literal data: 3,000,003 bytes
Matched data: 0 bytes
File list size: 0
File list generation time: 0.001 seconds
Total bytes sent: 3,000,938
Total bytes received: 44";
        assert_eq!(
            parse_stats(text.lines()),
            Stats {
                regular_files: 3,
                total_file_size: 43_000_006,
                files_transferred: 1,
                files_created: 2,
                files_deleted: 0,
                literal_data: 3_000_003,
                bytes_sent: 3_000_938,
                bytes_received: 44,
            }
        );
        assert_eq!(
            parse_stats(["Number of files: 1 (dir: 1)"]).regular_files,
            0
        );
    }
}
