//! The HTTP client of the `ferry` CLI: every command is a call to the API of a running
//! `ferry up`, with the caller's bearer token and an idempotency key, so that a retried call is
//! carried out once. Errors come back with the server's reason.
//!
//! [`Api::fetch`] and [`Api::send`] give an [`Answer`]: the JSON exactly as answered
//! (what `--json` prints) and, read on demand, the response type it is an instance of.

use anyhow::{Context, anyhow};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::marker::PhantomData;
use std::time::Duration;
use uuid::Uuid;

/// An answer of the API: its JSON as answered, and the response type `T` it reads as.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    json: Value,
    asked: String,
    meaning: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Answer<T> {
    /// `json`, answered to `asked` (e.g. `GET /servers`), as a `T`.
    pub fn new(json: Value, asked: impl Into<String>) -> Self {
        Self {
            json,
            asked: asked.into(),
            meaning: PhantomData,
        }
    }

    /// The JSON exactly as the API answered it.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The answer as its response type; an error names the call if it is not one.
    pub fn read(&self) -> anyhow::Result<T> {
        T::deserialize(&self.json)
            .with_context(|| format!("{} answered something ferry cannot read", self.asked))
    }
}

/// A connection to ferry's API with one person's token.
#[derive(Clone)]
pub struct Api {
    base: String,
    authorization: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .field("token", &"<hidden>")
            .finish_non_exhaustive()
    }
}

impl Api {
    /// The API at `base` (e.g. `http://127.0.0.1:8080`), authenticated by `token`
    /// (the server says who it stands for).
    pub fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        let token = token.trim();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(anyhow!(
                "the token is empty or holds spaces or control characters"
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            authorization: format!("Bearer {token}"),
            http,
        })
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }

    /// GET `path`, answered with a `T`.
    pub async fn fetch<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<Answer<T>> {
        let json = self.get(path).await?;
        Ok(Answer::new(json, format!("{} {path}", Method::GET)))
    }

    /// Sends a command (see [`Api::command`]) answered with a `T`.
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Answer<T>> {
        let asked = format!("{method} {path}");
        let json = self.command(method, path, body).await?;
        Ok(Answer::new(json, asked))
    }

    /// Sends a command: `method` on `path` with an optional JSON body. A connection
    /// failure is retried with the same idempotency key.
    pub async fn command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        self.call(method, path, body).await
    }

    /// GET `path`, answered with text (e.g. CSV), as answered.
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        self.call_text(Method::GET, path, None).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let text = self.call_text(method.clone(), path, body).await?;
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{method} {path} answered something that is not JSON"))
    }

    /// The call's answer as text when it succeeded, else the API's refusal.
    async fn call_text(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.base);
        let key = Uuid::now_v7().to_string();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header(reqwest::header::AUTHORIZATION, &self.authorization)
                .header(ferry_infra::api::IDEMPOTENCY_HEADER, &key);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) if attempt < 3 && (e.is_connect() || e.is_timeout()) => {
                    tokio::time::sleep(Duration::from_millis(300 * attempt)).await;
                    continue;
                }
                Err(e) => {
                    return Err(anyhow!(
                        "cannot reach ferry at {}: {e} (is `ferry up` running? set --api or FERRY_API_URL)",
                        self.base
                    ));
                }
            };
            let status = response.status();
            let text = response.text().await.context("reading the answer")?;
            if status.is_success() {
                return Ok(text);
            }
            return Err(error_of(status, &text));
        }
    }
}

/// An answer of the API that says no: its status, and its error code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// The HTTP status.
    pub status: u16,
    /// The API's stable code (`invalid`, `forbidden`, `conflict`, …).
    pub error: String,
    /// Why, for a person.
    pub reason: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {})", self.reason, self.error, self.status)
    }
}

impl std::error::Error for ApiFailure {}

fn error_of(status: StatusCode, text: &str) -> anyhow::Error {
    let failure = match serde_json::from_str::<ferry_infra::api::ErrorBody>(text) {
        Ok(body) => ApiFailure {
            status: status.as_u16(),
            error: body.error,
            reason: body.reason,
        },
        Err(_) => ApiFailure {
            status: status.as_u16(),
            error: "http".into(),
            reason: format!("HTTP {status}: {text}"),
        },
    };
    anyhow::Error::new(failure)
}
