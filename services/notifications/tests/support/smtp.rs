//! A real SMTP server for tests: aiosmtpd (PyPI, pinned; `scripts/test` installs it
//! and exports `FERRY_AIOSMTPD`, the python that has it), run as a child process on
//! 127.0.0.1, storing what it receives in a maildir that the test then reads.
//!
//! Self-contained (std and tokio only) so that another crate's test can include it:
//! `#[path = "../../notifications/tests/support/smtp.rs"] mod smtp;`.
//!
//! ```ignore
//! let mut server = smtp::SmtpServer::start(&dir).await;
//! // FERRY_SMTP_URL = server.url()
//! let mails = server.wait_for(1, Duration::from_secs(10)).await;
//! assert_eq!(mails[0].header("Content-Language"), Some("fr"));
//! server.stop().await;
//! ```
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The python that has aiosmtpd (`FERRY_AIOSMTPD`); panics with a hint when unset.
pub fn aiosmtpd_python() -> String {
    match std::env::var("FERRY_AIOSMTPD") {
        Ok(python) if !python.is_empty() => python,
        _ => panic!(
            "FERRY_AIOSMTPD is not set: scripts/test installs aiosmtpd into .stack/ and sets it \
             (or: python3 -m venv v && v/bin/pip install aiosmtpd==1.4.6 && export FERRY_AIOSMTPD=$PWD/v/bin/python)"
        ),
    }
}

/// A free TCP port on 127.0.0.1 (free when asked: nothing listens there yet).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A running aiosmtpd.
pub struct SmtpServer {
    child: Option<tokio::process::Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The maildir it stores messages in.
    pub maildir: PathBuf,
}

impl SmtpServer {
    /// Starts one on a free port, storing into `maildir` (created).
    pub async fn start(maildir: &Path) -> Self {
        Self::start_on(free_port(), maildir).await
    }

    /// Starts one on `port`, storing into `maildir` (created); waits until it
    /// accepts connections.
    pub async fn start_on(port: u16, maildir: &Path) -> Self {
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).expect("the maildir");
        }
        let child = tokio::process::Command::new(aiosmtpd_python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd started");
        let server = Self {
            child: Some(child),
            port,
            maildir: maildir.to_owned(),
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd did not listen on 127.0.0.1:{port} within 10 s");
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops it (killed and reaped).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        read_maildir(&self.maildir)
    }

    /// Waits until at least `count` messages arrived (panics after `timeout`).
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Mail> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let mails = self.messages();
            if mails.len() >= count {
                return mails;
            }
            if tokio::time::Instant::now() > until {
                panic!(
                    "{} message(s) received in {timeout:?}, {count} expected",
                    mails.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// One message as stored: its headers (unfolded, RFC 2047 words decoded) and body.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The file it was read from.
    pub path: PathBuf,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body (8-bit text as sent).
    pub body: String,
}

impl Mail {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses a stored message.
    pub fn parse(path: &Path, raw: &str) -> Self {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push_str(line);
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        for (_, value) in &mut headers {
            *value = decode_words(value);
        }
        Self {
            path: path.to_owned(),
            headers,
            body: body.to_owned(),
        }
    }
}

/// The messages of a maildir (`new/` and `cur/`), oldest first by file name.
pub fn read_maildir(dir: &Path) -> Vec<Mail> {
    let mut files: Vec<PathBuf> = ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(dir.join(sub)).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|path| {
            let bytes = std::fs::read(path).ok()?;
            Some(Mail::parse(path, &String::from_utf8_lossy(&bytes)))
        })
        .collect()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) in a header.
pub fn decode_words(value: &str) -> String {
    let mut out = Vec::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, from) = rest.split_at(start);
        let Some(word_end) = from[2..].find("?=").map(|i| i + 4) else {
            break;
        };
        let word = &from[..word_end];
        let parts: Vec<&str> = word[2..word.len() - 2].splitn(3, '?').collect();
        if parts.len() != 3 {
            break;
        }
        if !(last_was_word && before.trim().is_empty()) {
            out.extend_from_slice(before.as_bytes());
        }
        match parts[1].to_ascii_lowercase().as_str() {
            "b" => out.extend(base64(parts[2])),
            _ => out.extend(quoted(parts[2])),
        }
        last_was_word = true;
        rest = &from[word_end..];
    }
    out.extend_from_slice(rest.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let Some(v) = ALPHABET.iter().position(|a| *a == c) else {
            continue;
        };
        bits = (bits << 6) | v as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

fn quoted(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => out.push(b' '),
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'='),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}
