//! The panel's way to ferry's API: in process, through the same gate and routes as
//! any client, with the signed-in person's token. The panel holds no rule of its
//! own: what the API refuses, the panel shows refused.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use std::net::SocketAddr;
use tower::ServiceExt;

/// An answer of the API: its status and its JSON (`null` when empty).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub json: Value,
}

impl Answer {
    /// The API's reason for a refusal, else a description of the status.
    pub fn reason(&self) -> String {
        self.json["reason"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| self.status.to_string())
    }
}

/// Why the API could not be asked at all (a bug: the router is in process).
#[derive(Debug, thiserror::Error)]
#[error("the API could not be asked: {0}")]
pub struct ApiUnreachable(String);

/// ferry's API, behind its gate, in process. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    router: Router,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

impl Api {
    /// `router`: the API's routes with the gate as their outer layer.
    pub fn new(router: Router) -> Self {
        Self { router }
    }

    /// `method` on `path` with `token`, on behalf of the browser at `client` (whose
    /// failed authentications count as its own).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        client: Option<SocketAddr>,
    ) -> Result<Answer, ApiUnreachable> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let body = match body {
            Some(json) => Body::from(json.to_string()),
            None => Body::empty(),
        };
        let mut request = request
            .body(body)
            .map_err(|e| ApiUnreachable(e.to_string()))?;
        if let Some(client) = client {
            request.extensions_mut().insert(ConnectInfo(client));
        }
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| ApiUnreachable(e.to_string()))?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
            .await
            .map_err(|e| ApiUnreachable(e.to_string()))?;
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(Answer { status, json })
    }

    /// GET `path`.
    pub async fn get(
        &self,
        path: &str,
        token: &str,
        client: Option<SocketAddr>,
    ) -> Result<Answer, ApiUnreachable> {
        self.call(Method::GET, path, token, None, client).await
    }
}
