//! The panel's pages and forms. Each reads the session from its cookie, asks the
//! API with the session's token, and renders a template; each form is checked
//! against the session's CSRF token before anything is asked.

use crate::Panel;
use crate::api::Answer;
use crate::i18n::{Lang, messages};
use crate::session::{
    Flash, LANG_COOKIE, SESSION_COOKIE, SIGN_IN_CSRF_COOKIE, Session, random_token, same,
};
use axum::Extension;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;

pub(crate) type Client = Option<Extension<ConnectInfo<SocketAddr>>>;

pub(crate) fn client(client: &Client) -> Option<SocketAddr> {
    client.as_ref().map(|Extension(ConnectInfo(addr))| *addr)
}

/// The request's cookies, by name.
fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .map(|c| (c.name().to_owned(), c.value().to_owned()))
        .collect()
}

/// A `Set-Cookie` for the panel: `HttpOnly`, `SameSite=Strict`, path `/panel`;
/// `max_age` 0 removes it.
fn set_cookie(name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let cookie = cookie::Cookie::build((name, value))
        .path("/panel")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// `?lang=` asked.
#[derive(Debug, Default, Deserialize)]
pub struct LangQuery {
    pub(crate) lang: Option<String>,
}

/// The page's language, and the cookie that keeps a choice made now.
pub(crate) fn language(headers: &HeaderMap, query: &LangQuery) -> (Lang, Option<HeaderValue>) {
    if let Some(lang) = query.lang.as_deref().and_then(Lang::parse) {
        return (
            lang,
            Some(set_cookie(LANG_COOKIE, lang.code(), 365 * 86_400)),
        );
    }
    let chosen = cookies(headers)
        .get(LANG_COOKIE)
        .and_then(|code| Lang::parse(code));
    let browser = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Lang::from_accept);
    (chosen.or(browser).unwrap_or(Lang::En), None)
}

/// A page: `template` with `context` and what every page shows, with headers that
/// keep it from being framed, sniffed, cached or given scripts from elsewhere.
pub(crate) fn page(
    panel: &Panel,
    status: StatusCode,
    template: &str,
    lang: Lang,
    session: Option<&Session>,
    mut context: serde_json::Map<String, Value>,
    cookies: Vec<HeaderValue>,
) -> Response {
    context.insert("lang".into(), json!(lang.code()));
    context.insert("m".into(), json!(messages(lang)));
    if let Some(session) = session {
        context.insert("actor".into(), json!(session.actor));
        context.entry("csrf").or_insert_with(|| json!(session.csrf));
        if let Some(flash) = &session.flash {
            context.insert(
                "flash".into(),
                json!({ "error": flash.error, "text": flash.text }),
            );
        }
    }
    let rendered = panel
        .templates
        .get_template(template)
        .and_then(|t| t.render(Value::Object(context)));
    let html = match rendered {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(%template, error = %e, "a panel page could not be rendered");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response();
        }
    };
    let mut response = (status, axum::response::Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// The signed-in session of the request, if any, with its id.
pub(crate) fn session(panel: &Panel, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookies(headers).remove(SESSION_COOKIE)?;
    let session = panel.sessions.take(&id)?;
    Some((id, session))
}

pub(crate) fn to_sign_in() -> Response {
    Redirect::to("/panel/sign-in").into_response()
}

/// `/panel` → `/panel/`.
pub async fn to_home() -> Redirect {
    Redirect::permanent("/panel/")
}

/// The live-progress script, embedded.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/panel.js"),
    )
        .into_response()
}

/// The stylesheet, embedded.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/panel.css"),
    )
        .into_response()
}

/// The panel's icon: without one, browsers ask for `/favicon.ico`, which the API's
/// gate answers 401 on every page (noise in the console, and in the browser tests).
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b5394"/><path d="M3 10h10l-2 3H5z" fill="#fff"/></svg>"##,
    )
        .into_response()
}

/// The sign-in page.
pub async fn sign_in_page(
    State(panel): State<Panel>,
    headers: HeaderMap,
    Query(query): Query<LangQuery>,
) -> Response {
    let (lang, lang_cookie) = language(&headers, &query);
    sign_in_form(&panel, lang, lang_cookie, StatusCode::OK, None)
}

fn sign_in_form(
    panel: &Panel,
    lang: Lang,
    lang_cookie: Option<HeaderValue>,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let csrf = random_token();
    let mut context = serde_json::Map::new();
    context.insert("csrf".into(), json!(csrf));
    if let Some(error) = error {
        context.insert("error".into(), json!(error));
    }
    let mut cookies = vec![set_cookie(SIGN_IN_CSRF_COOKIE, &csrf, 3600)];
    cookies.extend(lang_cookie);
    page(panel, status, "sign_in.html", lang, None, context, cookies)
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    csrf: String,
    token: String,
}

/// Signs in: the token is asked who it is (`GET /whoami`); a session acting with it
/// follows.
pub async fn sign_in(
    State(panel): State<Panel>,
    headers: HeaderMap,
    client_addr: Client,
    Form(form): Form<SignIn>,
) -> Response {
    let (lang, _) = language(&headers, &LangQuery::default());
    let expected = cookies(&headers).remove(SIGN_IN_CSRF_COOKIE);
    if !expected.is_some_and(|expected| same(&expected, &form.csrf)) {
        return sign_in_form(
            &panel,
            lang,
            None,
            StatusCode::FORBIDDEN,
            Some("The form expired: sign in again.".into()),
        );
    }
    let token = form.token.trim().to_owned();
    let answer = match panel.api.get("/whoami", &token, client(&client_addr)).await {
        Ok(answer) => answer,
        Err(e) => return failure(&panel, lang, None, &e.to_string()),
    };
    if answer.status != StatusCode::OK {
        return sign_in_form(&panel, lang, None, answer.status, Some(answer.reason()));
    }
    let actor = answer.json["actor"].as_str().unwrap_or_default().to_owned();
    let id = panel.sessions.open(token, actor);
    let mut response = Redirect::to("/panel/").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &id, 8 * 3600),
    );
    headers.append(header::SET_COOKIE, set_cookie(SIGN_IN_CSRF_COOKIE, "", 0));
    response
}

/// A form carrying only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct Csrf {
    csrf: String,
}

/// Signs out.
pub async fn sign_out(
    State(panel): State<Panel>,
    headers: HeaderMap,
    Form(form): Form<Csrf>,
) -> Response {
    if let Some((id, session)) = session(&panel, &headers)
        && same(&session.csrf, &form.csrf)
    {
        panel.sessions.close(&id);
    }
    let mut response = to_sign_in();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0));
    response
}

pub(crate) fn failure(
    panel: &Panel,
    lang: Lang,
    session: Option<&Session>,
    reason: &str,
) -> Response {
    let mut context = serde_json::Map::new();
    context.insert("heading".into(), json!(messages(lang)["refused"]));
    context.insert("reason".into(), json!(reason));
    page(
        panel,
        StatusCode::SERVICE_UNAVAILABLE,
        "error.html",
        lang,
        session,
        context,
        vec![],
    )
}

/// An API refusal as a page with the API's status and reason.
pub(crate) fn refused(panel: &Panel, lang: Lang, session: &Session, answer: &Answer) -> Response {
    let mut context = serde_json::Map::new();
    context.insert("heading".into(), json!(messages(lang)["refused"]));
    context.insert("reason".into(), json!(answer.reason()));
    page(
        panel,
        answer.status,
        "error.html",
        lang,
        Some(session),
        context,
        vec![],
    )
}

/// The servers the person may see: a customer's own, support's all (the console).
pub async fn home(
    State(panel): State<Panel>,
    headers: HeaderMap,
    Query(query): Query<LangQuery>,
    client_addr: Client,
) -> Response {
    let (lang, lang_cookie) = language(&headers, &query);
    let Some((_, session)) = session(&panel, &headers) else {
        return to_sign_in();
    };
    let answer = match panel
        .api
        .get("/servers", &session.token, client(&client_addr))
        .await
    {
        Ok(answer) => answer,
        Err(e) => return failure(&panel, lang, Some(&session), &e.to_string()),
    };
    if answer.status == StatusCode::UNAUTHORIZED {
        return to_sign_in();
    }
    if answer.status != StatusCode::OK {
        return refused(&panel, lang, &session, &answer);
    }
    let mut context = serde_json::Map::new();
    context.insert("servers".into(), answer.json);
    context.insert("support".into(), json!(session.is_support()));
    page(
        &panel,
        StatusCode::OK,
        "home.html",
        lang,
        Some(&session),
        context,
        lang_cookie.into_iter().collect(),
    )
}

/// A server's Migrations page.
pub async fn server(
    State(panel): State<Panel>,
    headers: HeaderMap,
    Path(server_id): Path<String>,
    Query(query): Query<LangQuery>,
    client_addr: Client,
) -> Response {
    let (lang, lang_cookie) = language(&headers, &query);
    let Some((_, session)) = session(&panel, &headers) else {
        return to_sign_in();
    };
    let context = match server_context(&panel, &session, &server_id, client(&client_addr)).await {
        Ok(context) => context,
        Err(refusal) => return refusal.page(&panel, lang, &session),
    };
    page(
        &panel,
        StatusCode::OK,
        "server.html",
        lang,
        Some(&session),
        context,
        lang_cookie.into_iter().collect(),
    )
}

/// Why a server's page cannot be shown.
pub(crate) enum Refusal {
    /// The API refused (its status and reason), or was not signed in to.
    Api(Answer),
    /// The API could not be asked.
    Unreachable(String),
}

impl Refusal {
    /// The reason, for a section of a page that shows it in place.
    pub(crate) fn reason(&self) -> String {
        match self {
            Refusal::Api(answer) => format!("{} — {}", answer.status, answer.reason()),
            Refusal::Unreachable(reason) => reason.clone(),
        }
    }

    fn page(self, panel: &Panel, lang: Lang, session: &Session) -> Response {
        match self {
            Refusal::Api(answer) if answer.status == StatusCode::UNAUTHORIZED => to_sign_in(),
            Refusal::Api(answer) => refused(panel, lang, session, &answer),
            Refusal::Unreachable(reason) => failure(panel, lang, Some(session), &reason),
        }
    }
}

pub(crate) async fn ask(
    panel: &Panel,
    session: &Session,
    path: &str,
    client: Option<SocketAddr>,
) -> Result<Value, Refusal> {
    match panel.api.get(path, &session.token, client).await {
        Ok(answer) if answer.status == StatusCode::OK => Ok(answer.json),
        Ok(answer) => Err(Refusal::Api(answer)),
        Err(e) => Err(Refusal::Unreachable(e.to_string())),
    }
}

/// What a server's page shows: the server, its migration, the actions allowed now,
/// and (with no migration) the versions it may be migrated to.
async fn server_context(
    panel: &Panel,
    session: &Session,
    server_id: &str,
    client: Option<SocketAddr>,
) -> Result<serde_json::Map<String, Value>, Refusal> {
    let detail = ask(
        panel,
        session,
        &format!("/servers/{}", encode(server_id)),
        client,
    )
    .await?;
    let migration = detail["migration"].clone();
    let (actions, later) = match migration["migration_id"].as_str() {
        Some(id) => {
            let allowed = ask(panel, session, &format!("/migrations/{id}/actions"), client).await?;
            // Both lists, or the API's answer is not what the page is made of.
            if !(allowed["actions"].is_array() && allowed["later"].is_array()) {
                return Err(Refusal::Unreachable(format!(
                    "the allowed actions came without their lists: {allowed}"
                )));
            }
            (allowed["actions"].clone(), allowed["later"].clone())
        }
        None => (json!([]), json!([])),
    };
    // Opening is offered to whoever may open it: the owner, support, or a user
    // granted the whole server (the API refuses anyone else anyway).
    let may_open = migration.is_null()
        && (session.is_support()
            || session.actor.starts_with("customer:")
            || may_open_as_user(panel, session, server_id, client).await);
    let mut context = serde_json::Map::new();
    context.insert("csrf".into(), json!(session.csrf));
    context.insert(
        "step".into(),
        migration["step"].as_u64().map_or(Value::Null, |s| json!(s)),
    );
    if let Some(loan) = migration["loan"].as_object() {
        // An amount the read side did not give is an error, never a zero charged.
        let amount = crate::money(&Value::Object(loan.clone()))
            .map_err(|e| Refusal::Unreachable(format!("/servers/{server_id}: a loan with {e}")))?;
        context.insert("money".into(), json!(amount));
    }
    if may_open {
        // The versions one may migrate to: those published but the one it runs.
        let targets = ask(panel, session, "/target-infrastructures", client).await?;
        let current = detail["server"]["infrastructure_version"]
            .as_str()
            .unwrap_or_default();
        let versions: Vec<&str> = targets
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|t| t["version"].as_str())
                    .filter(|v| *v != current)
                    .collect()
            })
            .unwrap_or_default();
        context.insert("targets".into(), json!(versions));
    }
    // Each account's expected downtime, shown until its move has measured one. The
    // page does without when the estimates cannot be read (a data mover starting).
    if migration["step"].as_u64().is_some_and(|step| step <= 4) {
        let path = format!("/servers/{}/downtime-estimates", encode(server_id));
        if let Ok(estimates) = ask(panel, session, &path, client).await {
            context.insert("estimates".into(), estimates_by_account(&estimates));
        }
    }
    context.insert("server".into(), detail["server"].clone());
    context.insert("migration".into(), migration);
    context.insert("actions".into(), actions);
    context.insert("later".into(), later);
    context.insert("may_open".into(), json!(may_open));
    Ok(context)
}

/// `{account_id: estimated_downtime_ms}` of `GET /servers/{id}/downtime-estimates`.
fn estimates_by_account(estimates: &Value) -> Value {
    let by_account: serde_json::Map<String, Value> = estimates["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let id = a["account_id"].as_str()?;
            Some((id.to_owned(), a["estimated_downtime_ms"].clone()))
        })
        .collect();
    Value::Object(by_account)
}

/// How often a server's live section is read again.
const LIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A server's migration section as server-sent events (`live`): sent again each
/// time it changes, while the page is open.
pub async fn live(
    State(panel): State<Panel>,
    headers: HeaderMap,
    Path(server_id): Path<String>,
    client_addr: Client,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let (lang, _) = language(&headers, &LangQuery::default());
    let Some((_, session)) = session(&panel, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let client = client(&client_addr);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Event>(4);
    tokio::spawn(async move {
        let mut last = String::new();
        loop {
            let Ok(mut context) = server_context(&panel, &session, &server_id, client).await else {
                // Refused now (signed out, a grant revoked): the stream ends and the
                // page says so when reloaded.
                return;
            };
            context.insert("lang".into(), json!(lang.code()));
            context.insert("m".into(), json!(messages(lang)));
            let html = panel
                .templates
                .get_template("server_live.html")
                .and_then(|t| t.render(Value::Object(context)));
            match html {
                Ok(html) if html != last => {
                    if sender
                        .send(Event::default().event("live").data(&html))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    last = html;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "the live section could not be rendered");
                    return;
                }
            }
            tokio::select! {
                () = sender.closed() => return,
                () = panel.shutdown.cancelled() => return,
                () = tokio::time::sleep(LIVE_EVERY) => {}
            }
        }
    });
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        let event = receiver.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(event), receiver))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn may_open_as_user(
    panel: &Panel,
    session: &Session,
    server_id: &str,
    client: Option<SocketAddr>,
) -> bool {
    if !session.actor.starts_with("user:") {
        return false;
    }
    let Ok(me) = panel.api.get("/whoami", &session.token, client).await else {
        return false;
    };
    me.json["grants"].as_array().is_some_and(|grants| {
        grants.iter().any(|g| {
            g["server_id"].as_str() == Some(server_id)
                && g.get("account_id").is_none_or(Value::is_null)
        })
    })
}

/// Percent-encodes a path segment taken from the URL, so that it stays one segment.
pub(crate) fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// How often, and how many times, the read side is asked whether it shows an
/// action just carried out (3 s at most).
const CAUGHT_UP_EVERY: std::time::Duration = std::time::Duration::from_millis(50);
const CAUGHT_UP_POLLS: u32 = 60;

/// An action's form.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    csrf: String,
    action: String,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    confirmed: Option<String>,
    #[serde(default)]
    target_version: Option<String>,
    /// `console`: back to the support console afterwards, else the server's page.
    #[serde(default)]
    back: Option<String>,
}

/// Carries out an action of a server's page through the API, then shows the page
/// again with what it did (or why not). An irreversible one is confirmed first.
pub async fn act(
    State(panel): State<Panel>,
    headers: HeaderMap,
    Path(server_id): Path<String>,
    client_addr: Client,
    Form(form): Form<ActionForm>,
) -> Response {
    let (lang, _) = language(&headers, &LangQuery::default());
    let Some((id, session)) = session(&panel, &headers) else {
        return to_sign_in();
    };
    if !same(&session.csrf, &form.csrf) {
        let answer = Answer {
            status: StatusCode::FORBIDDEN,
            json: json!({ "reason": "The form expired: open the page again." }),
        };
        return refused(&panel, lang, &session, &answer);
    }
    let client = client(&client_addr);
    let to_console = form.back.as_deref() == Some("console");
    let back = if to_console {
        Redirect::to("/panel/console#support-actions").into_response()
    } else {
        Redirect::to(&format!("/panel/servers/{}", encode(&server_id))).into_response()
    };
    let words = messages(lang);
    let label = words
        .get(format!("action_{}", form.action).as_str())
        .copied()
        .unwrap_or(if form.action == "open" {
            words["open_migration"]
        } else {
            ""
        })
        .to_owned();
    let needs_reason = matches!(form.action.as_str(), "cancel" | "abort");
    let confirmed = form.confirmed.as_deref() == Some("yes");
    if crate::actions::IRREVERSIBLE.contains(&form.action.as_str()) && !confirmed {
        let mut context = serde_json::Map::new();
        context.insert("label".into(), json!(label));
        context.insert("server_id".into(), json!(server_id));
        context.insert("action".into(), json!(form.action));
        context.insert("account".into(), json!(form.account));
        context.insert("needs_reason".into(), json!(needs_reason));
        context.insert("to_console".into(), json!(to_console));
        return page(
            &panel,
            StatusCode::OK,
            "confirm.html",
            lang,
            Some(&session),
            context,
            vec![],
        );
    }
    let request = if form.action == "open" {
        let Some(target) = form.target_version.as_deref().filter(|t| !t.is_empty()) else {
            panel.sessions.flash(
                &id,
                Flash {
                    error: true,
                    text: words["choose_target"].to_owned(),
                },
            );
            return back;
        };
        Some((
            Method::POST,
            format!("/servers/{}/migrations", encode(&server_id)),
            Some(json!({ "target_version": target })),
        ))
    } else {
        let current = format!("/servers/{}/current-migration", encode(&server_id));
        let migration = match panel.api.get(&current, &session.token, client).await {
            Ok(a) if a.status == StatusCode::OK => match a.json["migration_id"].as_str() {
                Some(migration) => migration.to_owned(),
                None => {
                    let missing = format!("{current} answered no migration_id");
                    return failure(&panel, lang, Some(&session), &missing);
                }
            },
            Ok(a) => {
                panel.sessions.flash(
                    &id,
                    Flash {
                        error: true,
                        text: a.reason(),
                    },
                );
                return back;
            }
            Err(e) => return failure(&panel, lang, Some(&session), &e.to_string()),
        };
        let target = match panel
            .api
            .get(&format!("/migrations/{migration}"), &session.token, client)
            .await
        {
            Ok(a) => match a.json["view"]["target_version"].as_str() {
                Some(target) => target.to_owned(),
                None => {
                    let missing = format!("/migrations/{migration} answered no target_version");
                    return failure(&panel, lang, Some(&session), &missing);
                }
            },
            Err(e) => return failure(&panel, lang, Some(&session), &e.to_string()),
        };
        crate::actions::request(
            &form.action,
            &migration,
            form.account.as_deref().map(encode).as_deref(),
            form.reason.as_deref().unwrap_or_default(),
            &target,
        )
    };
    let Some((method, path, body)) = request else {
        panel.sessions.flash(
            &id,
            Flash {
                error: true,
                text: format!("unknown action {:?}", form.action),
            },
        );
        return back;
    };
    let server_path = format!("/servers/{}", encode(&server_id));
    let before = panel
        .api
        .get(&server_path, &session.token, client)
        .await
        .ok();
    let flash = match panel
        .api
        .call(method, &path, &session.token, body, client)
        .await
    {
        Ok(a) if a.status.is_success() => {
            // Read your writes: the page that follows shows what was just done, once
            // the read side has it (within moments; never waited on for long).
            if let Some(before) = before {
                for _ in 0..CAUGHT_UP_POLLS {
                    tokio::time::sleep(CAUGHT_UP_EVERY).await;
                    match panel.api.get(&server_path, &session.token, client).await {
                        Ok(now) if now.json != before.json => break,
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            }
            Flash {
                error: false,
                text: format!("{}: {label}", words["done"]),
            }
        }
        Ok(a) => Flash {
            error: true,
            text: format!("{} — {}", label, a.reason()),
        },
        Err(e) => Flash {
            error: true,
            text: e.to_string(),
        },
    };
    panel.sessions.flash(&id, flash);
    back
}
