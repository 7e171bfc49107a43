//! Handing a message to the mail system: RFC 5322 messages built with lettre
//! (UTF-8 plain text, a `Message-ID` derived from the notification id, `Date`,
//! `Content-Language`), delivered by SMTP (rustls) or written to a maildir when no
//! SMTP server is configured.
//!
//! Emits and consumes no event. Credentials are read from a file and never logged,
//! nor shown by `Debug`.

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use uuid::Uuid;

/// The mail system is not usable as configured.
#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    /// The SMTP URL is not `smtp://host[:port]` or `smtps://host[:port]`.
    #[error("FERRY_SMTP_URL {url:?} is not usable: {reason}")]
    Url {
        /// The URL, without any password.
        url: String,
        /// Why.
        reason: String,
    },
    /// The credentials file cannot be read or has no `user:password`.
    #[error("the SMTP credentials file {path} is not usable: {reason}")]
    Credentials {
        /// The file.
        path: PathBuf,
        /// Why (never its content).
        reason: String,
    },
    /// The sender's address.
    #[error("FERRY_MAIL_FROM {0:?} is not an address such as `ferry <ferry@example.org>`")]
    From(String),
    /// The maildir cannot be created.
    #[error("the maildir {path} cannot be created: {reason}")]
    Maildir {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A message could not be built (an address that is none, a header refused): no
/// attempt can succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the message cannot be written: {0}")]
pub struct BuildError(pub String);

/// `Content-Language`.
#[derive(Debug, Clone)]
struct ContentLanguage(String);

impl Header for ContentLanguage {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Content-Language")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `X-Ferry-Notification`: the notification id, for support's searches.
#[derive(Debug, Clone)]
struct NotificationHeader(String);

impl Header for NotificationHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Ferry-Notification")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The `Message-ID` of a notification: the same for every attempt, so that a
/// receiving system can tell a message sent again after a check.
pub fn message_id(notification_id: Uuid, from: &Mailbox) -> String {
    format!("<{notification_id}@{}>", from.email.domain())
}

/// One message to hand over.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The notification.
    pub notification_id: Uuid,
    /// The sender.
    pub from: &'a Mailbox,
    /// The recipient's address.
    pub to: &'a str,
    /// Its language (`Content-Language`).
    pub locale: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Plain-text body.
    pub body: &'a str,
    /// Its `Date`.
    pub date: SystemTime,
}

/// The RFC 5322 message.
pub fn build(outgoing: &Outgoing<'_>) -> Result<Message, BuildError> {
    let to: Mailbox = outgoing.to.parse().map_err(|e| {
        BuildError(format!(
            "the recipient {:?} is no address: {e}",
            outgoing.to
        ))
    })?;
    // Plain 8-bit UTF-8 when every line fits, quoted-printable or base64 otherwise.
    let body = Body::new_with_encoding(
        outgoing.body.to_owned(),
        lettre::message::header::ContentTransferEncoding::EightBit,
    )
    .unwrap_or_else(|_| Body::new(outgoing.body.to_owned()));
    Message::builder()
        .from(outgoing.from.clone())
        .to(to)
        .subject(outgoing.subject)
        .message_id(Some(message_id(outgoing.notification_id, outgoing.from)))
        .date(outgoing.date)
        .header(ContentType::TEXT_PLAIN)
        .header(ContentLanguage(outgoing.locale.to_owned()))
        .header(NotificationHeader(outgoing.notification_id.to_string()))
        .body(body)
        .map_err(|e| BuildError(e.to_string()))
}

/// Where messages go.
#[derive(Clone)]
pub enum Transport {
    /// An SMTP server.
    Smtp {
        /// The transport.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// Its URL (no credentials in it), for the log.
        url: String,
    },
    /// A maildir (`new/`, `tmp/`, `cur/`).
    Maildir(PathBuf),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp { url, .. } => write!(f, "Smtp({url})"),
            Self::Maildir(path) => write!(f, "Maildir({})", path.display()),
        }
    }
}

impl Transport {
    /// An SMTP transport for `url` (`smtp://host:port`, plain; `smtps://host:port`,
    /// TLS; `smtp://host:port?tls=required`, STARTTLS), authenticated with the
    /// `user:password` of `credentials_file` if given.
    pub fn smtp(
        url: &str,
        credentials_file: Option<&Path>,
        timeout: Duration,
    ) -> Result<Self, MailSetupError> {
        let parsed = url::Url::parse(url).map_err(|e| MailSetupError::Url {
            url: redact(url),
            reason: e.to_string(),
        })?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(MailSetupError::Url {
                url: redact(url),
                reason: "put credentials in FERRY_SMTP_CREDENTIALS_FILE, never in the URL".into(),
            });
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| {
            MailSetupError::Url {
                url: url.to_owned(),
                reason: e.to_string(),
            }
        })?;
        if let Some(path) = credentials_file {
            builder = builder.credentials(read_credentials(path)?);
        }
        Ok(Self::Smtp {
            transport: builder.timeout(Some(timeout)).build(),
            url: url.to_owned(),
        })
    }

    /// A maildir at `path`, created with its `new/`, `tmp/` and `cur/` if needed.
    pub fn maildir(path: &Path) -> Result<Self, MailSetupError> {
        for sub in ["new", "tmp", "cur"] {
            std::fs::create_dir_all(path.join(sub)).map_err(|e| MailSetupError::Maildir {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        }
        Ok(Self::Maildir(path.to_owned()))
    }

    /// Hands `message` over (attempt `attempt` of notification `id`).
    pub async fn send(&self, message: &Message, id: Uuid, attempt: u32) -> Result<(), String> {
        match self {
            Self::Smtp { transport, .. } => transport
                .send(message.clone())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Self::Maildir(dir) => write_maildir(dir, message, id, attempt)
                .await
                .map_err(|e| format!("maildir {}: {e}", dir.display())),
        }
    }
}

/// Writes `message` to `tmp/`, then moves it into `new/`: a reader never sees half a
/// message.
async fn write_maildir(
    dir: &Path,
    message: &Message,
    id: Uuid,
    attempt: u32,
) -> std::io::Result<()> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let host = lettre::transport::smtp::extension::ClientId::default().to_string();
    let host: String = host
        .chars()
        .map(|c| if c == '/' || c == ':' { '_' } else { c })
        .collect();
    let name = format!(
        "{}.M{}P{}Q{}_{attempt}.{host}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        id.simple()
    );
    let tmp = dir.join("tmp").join(&name);
    tokio::fs::write(&tmp, message.formatted()).await?;
    tokio::fs::rename(&tmp, dir.join("new").join(&name)).await
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            let _ = parsed.set_username("");
            parsed.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// `user:password` on the first line, or the user on the first line and the password
/// on the second.
fn read_credentials(path: &Path) -> Result<Credentials, MailSetupError> {
    let fail = |reason: &str| MailSetupError::Credentials {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(&e.kind().to_string()))?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().ok_or_else(|| fail("it is empty"))?;
    let (user, password) = match first.split_once(':') {
        Some((user, password)) => (user.to_owned(), password.to_owned()),
        None => (
            first.to_owned(),
            lines
                .next()
                .ok_or_else(|| fail("no password: write user:password"))?
                .to_owned(),
        ),
    };
    if user.is_empty() || password.is_empty() {
        return Err(fail("write user:password"));
    }
    Ok(Credentials::new(user, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> Mailbox {
        "ferry <ferry@hosting.example>".parse().expect("an address")
    }

    #[test]
    fn a_message_says_who_what_when_and_in_which_language() {
        let from = from();
        let id = Uuid::from_u128(0x1234);
        let message = build(&Outgoing {
            notification_id: id,
            from: &from,
            to: "jane@example.org",
            locale: "fr",
            subject: "Étape 4 - Le serveur de transit est prêt",
            body: "Bonjour,\n\nLe serveur de transit est prêt.\n",
            date: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        })
        .expect("built");
        let text = String::from_utf8(message.formatted()).expect("utf-8");
        assert!(
            text.contains(&format!("Message-ID: <{id}@hosting.example>")),
            "{text}"
        );
        assert!(text.contains("Content-Language: fr"), "{text}");
        assert!(text.contains("Date: "), "{text}");
        assert!(
            text.contains("Content-Type: text/plain; charset=utf-8"),
            "{text}"
        );
        assert!(text.contains("Le serveur de transit est prêt."), "{text}");
        assert!(text.contains("To: jane@example.org"), "{text}");
    }

    #[test]
    fn a_recipient_that_is_no_address_cannot_be_built() {
        let from = from();
        let error = build(&Outgoing {
            notification_id: Uuid::nil(),
            from: &from,
            to: "not an address",
            locale: "en",
            subject: "s",
            body: "b",
            date: SystemTime::now(),
        })
        .expect_err("refused");
        assert!(error.0.contains("not an address"));
    }

    #[test]
    fn credentials_never_go_in_the_url_and_come_from_a_file() {
        let error = Transport::smtp(
            "smtp://user:secret@127.0.0.1:2525",
            None,
            Duration::from_secs(1),
        )
        .expect_err("refused");
        assert!(!error.to_string().contains("secret"), "{error}");
        let dir = std::env::temp_dir().join(format!("ferry-creds-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("smtp");
        std::fs::write(&file, "ferry:s3cret\n").expect("written");
        let transport =
            Transport::smtp("smtp://127.0.0.1:2525", Some(&file), Duration::from_secs(1))
                .expect("usable");
        assert!(!format!("{transport:?}").contains("s3cret"));
        std::fs::write(&file, "ferry\n").expect("written");
        let error = Transport::smtp("smtp://127.0.0.1:2525", Some(&file), Duration::from_secs(1))
            .expect_err("no password");
        assert!(error.to_string().contains("password"), "{error}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_maildir_gets_one_file_per_message_in_new() {
        let dir = std::env::temp_dir().join(format!("ferry-maildir-{}", Uuid::now_v7()));
        let transport = Transport::maildir(&dir).expect("created");
        let from = from();
        let message = build(&Outgoing {
            notification_id: Uuid::from_u128(5),
            from: &from,
            to: "jane@example.org",
            locale: "en",
            subject: "Hello",
            body: "Body\n",
            date: SystemTime::now(),
        })
        .expect("built");
        transport
            .send(&message, Uuid::from_u128(5), 1)
            .await
            .expect("written");
        for sub in ["tmp", "cur"] {
            assert_eq!(std::fs::read_dir(dir.join(sub)).expect("dir").count(), 0);
        }
        let files: Vec<_> = std::fs::read_dir(dir.join("new"))
            .expect("new/")
            .flatten()
            .collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].path()).expect("read");
        assert!(text.contains("Subject: Hello"), "{text}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
