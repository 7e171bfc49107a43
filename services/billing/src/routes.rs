//! Billing's HTTP API: loans, charges and monthly invoices (as JSON and CSV), and
//! support's change of a loan's free period. The bearer token (authenticated by the gate) says who
//! asks: support sees everything, a customer only their own loans, charges and
//! invoices (another's are "not found"). An `idempotency-key` header (a UUID) makes a
//! retried change harmless.
//!
//! Emits, through [`Billing`], `LoanFreePeriodChanged`; reads billing's read model.

use crate::api::{
    ChargeList, EndingLoans, FreePeriodAnswer, FreePeriodBody, Invoice, InvoiceList, LoanDetail,
};
use crate::query;
use crate::service::{Billing, CommandMeta};
use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use deadpool_postgres::Pool;
use ferry_infra::api::openapi::{Id, IdempotencyKey};
use ferry_infra::api::{ApiError, ApiJson, ApiPath, ApiQuery, CommandId, ErrorBody, RequestActor};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The OpenAPI tag of every route here.
pub const TAG: &str = "billing";

/// The pattern of a calendar month, `YYYY-MM`.
pub const MONTH_PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[0-2])$";

/// What the routes serve from.
#[derive(Debug, Clone)]
pub struct BillingState {
    /// The command side.
    pub billing: Billing,
    /// The read model's database.
    pub pool: Pool,
}

/// The routes, serving `state`.
pub fn router(state: BillingState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(get_loan))
        .routes(routes!(list_ending_loans))
        .routes(routes!(change_free_period))
        .routes(routes!(get_charges))
        .routes(routes!(get_invoices))
        .routes(routes!(get_invoice))
        .routes(routes!(get_invoice_csv))
        .with_state(state)
}

/// The month filter of the charges.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthQuery {
    /// Only the charges of this calendar month, `YYYY-MM`.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: Option<String>,
}

/// The window of `GET /loans`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EndingQuery {
    /// Loans whose free period ends within this many days from now, or has ended
    /// (0 to 365; 3 when not given, when the first notice goes to the customer).
    #[param(minimum = 0, maximum = 365)]
    pub ending_within_days: Option<u32>,
}

/// Days [`EndingQuery`] looks ahead when not told.
pub const DEFAULT_ENDING_WITHIN_DAYS: u32 = 3;

fn valid_customer(id: &str) -> Result<(), ApiError> {
    ApiError::unless_valid_id("customer", id)
}

/// A loan of a transit server: who, what, since when, the free period (and its
/// changes), the days used and charged, the notices given, how it ended.
#[utoipa::path(
    get,
    path = "/loans/{migration_id}",
    tag = TAG,
    params(("migration_id" = Uuid, Path, description = "The migration borrowing the transit server")),
    responses(
        (status = 200, body = LoanDetail),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "A system actor", body = ErrorBody),
        (status = 404, description = "No such loan, or another customer's", body = ErrorBody),
        (status = 503, description = "The read model is unavailable or being built", body = ErrorBody),
    )
)]
async fn get_loan(
    State(state): State<BillingState>,
    ApiPath(migration_id): ApiPath<Uuid>,
    RequestActor(actor): RequestActor,
) -> Result<Json<LoanDetail>, ApiError> {
    let now = state.billing.log().clock().now();
    Ok(Json(
        query::loan(&state.pool, &actor, migration_id, now).await?,
    ))
}

/// The open loans near the end of their free period (support only): those whose
/// free period ends within `ending_within_days` days by the log's clock, or has
/// ended already (their days are being charged), the soonest first, with the days
/// used and the amount charged so far.
#[utoipa::path(
    get,
    path = "/loans",
    tag = TAG,
    params(EndingQuery),
    responses(
        (status = 200, body = EndingLoans),
        (status = 400, description = "Not a number of days, or more than 365", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Not support", body = ErrorBody),
        (status = 503, description = "The read model is unavailable or being built", body = ErrorBody),
    )
)]
async fn list_ending_loans(
    State(state): State<BillingState>,
    RequestActor(actor): RequestActor,
    ApiQuery(window): ApiQuery<EndingQuery>,
) -> Result<Json<EndingLoans>, ApiError> {
    let now = state.billing.log().clock().now();
    let days = window
        .ending_within_days
        .unwrap_or(DEFAULT_ENDING_WITHIN_DAYS);
    Ok(Json(
        query::ending_loans(&state.pool, &actor, now, days).await?,
    ))
}

/// Support gives an open loan another free period (a commercial gesture, or the
/// new policy applied to a loan opened under the old one), with a reason. Days
/// already charged stay charged; the notices of the free period's end are planned
/// again.
#[utoipa::path(
    post,
    path = "/loans/{migration_id}/free-period",
    tag = TAG,
    params(
        ("migration_id" = Uuid, Path, description = "The migration borrowing the transit server"),
        IdempotencyKey,
    ),
    request_body = FreePeriodBody,
    responses(
        (status = 200, description = "Changed, or already so", body = FreePeriodAnswer),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Not support", body = ErrorBody),
        (status = 404, description = "No such loan", body = ErrorBody),
        (status = 409, description = "The loan is closed", body = ErrorBody),
        (status = 422, description = "No reason, or more than 365 days", body = ErrorBody),
        (status = 503, description = "The event log is unavailable", body = ErrorBody),
    )
)]
async fn change_free_period(
    State(state): State<BillingState>,
    ApiPath(migration_id): ApiPath<Uuid>,
    RequestActor(actor): RequestActor,
    CommandId(command_id): CommandId,
    ApiJson(body): ApiJson<FreePeriodBody>,
) -> Result<Json<FreePeriodAnswer>, ApiError> {
    let handled = state
        .billing
        .change_free_period(
            &CommandMeta::new(command_id, actor),
            migration_id,
            body.free_period_days,
            &body.reason,
        )
        .await?;
    let ends_at = handled
        .state
        .free_period_ends_at()
        .ok_or_else(|| ApiError::not_found(format!("no loan for migration {migration_id}")))?;
    Ok(Json(FreePeriodAnswer {
        changed: !handled.events.is_empty(),
        events: handled
            .events
            .iter()
            .map(|e| e.event_type().to_owned())
            .collect(),
        free_period_days: handled.state.free_period_days,
        free_period_ends_at: ends_at,
    }))
}

/// A customer's charged days, of one calendar month if asked, with totals per
/// currency.
#[utoipa::path(
    get,
    path = "/customers/{customer_id}/charges",
    tag = TAG,
    params(
        ("customer_id" = inline(Id), Path, description = "The customer, e.g. `c-42`"),
        MonthQuery,
    ),
    responses(
        (status = 200, body = ChargeList),
        (status = 400, description = "Not a month", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "A system actor", body = ErrorBody),
        (status = 404, description = "Another customer", body = ErrorBody),
        (status = 503, description = "The read model is unavailable or being built", body = ErrorBody),
    )
)]
async fn get_charges(
    State(state): State<BillingState>,
    ApiPath(customer_id): ApiPath<String>,
    RequestActor(actor): RequestActor,
    ApiQuery(filter): ApiQuery<MonthQuery>,
) -> Result<Json<ChargeList>, ApiError> {
    valid_customer(&customer_id)?;
    Ok(Json(
        query::charges(&state.pool, &actor, &customer_id, filter.month.as_deref()).await?,
    ))
}

/// A customer's invoices: the calendar months with charges, with totals per
/// currency.
#[utoipa::path(
    get,
    path = "/customers/{customer_id}/invoices",
    tag = TAG,
    params(("customer_id" = inline(Id), Path, description = "The customer, e.g. `c-42`")),
    responses(
        (status = 200, body = InvoiceList),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "A system actor", body = ErrorBody),
        (status = 404, description = "Another customer", body = ErrorBody),
        (status = 503, description = "The read model is unavailable or being built", body = ErrorBody),
    )
)]
async fn get_invoices(
    State(state): State<BillingState>,
    ApiPath(customer_id): ApiPath<String>,
    RequestActor(actor): RequestActor,
) -> Result<Json<InvoiceList>, ApiError> {
    valid_customer(&customer_id)?;
    Ok(Json(
        query::invoices(&state.pool, &actor, &customer_id).await?,
    ))
}

/// A customer's invoice for one calendar month: its lines (the charges of the
/// month) and totals per currency.
#[utoipa::path(
    get,
    path = "/customers/{customer_id}/invoices/{month}",
    tag = TAG,
    params(
        ("customer_id" = inline(Id), Path, description = "The customer, e.g. `c-42`"),
        ("month" = String, Path, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", description = "The calendar month, `YYYY-MM`"),
    ),
    responses(
        (status = 200, body = Invoice),
        (status = 400, description = "Not a month", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "A system actor", body = ErrorBody),
        (status = 404, description = "Nothing charged that month, or another customer", body = ErrorBody),
        (status = 503, description = "The read model is unavailable or being built", body = ErrorBody),
    )
)]
async fn get_invoice(
    State(state): State<BillingState>,
    ApiPath((customer_id, month)): ApiPath<(String, String)>,
    RequestActor(actor): RequestActor,
) -> Result<Json<Invoice>, ApiError> {
    valid_customer(&customer_id)?;
    Ok(Json(
        query::invoice(&state.pool, &actor, &customer_id, &month).await?,
    ))
}

/// The same invoice as CSV: a header row, then one line per charge, amounts as
/// decimals (`12.34`).
#[utoipa::path(
    get,
    path = "/customers/{customer_id}/invoices/{month}/csv",
    tag = TAG,
    params(
        ("customer_id" = inline(Id), Path, description = "The customer, e.g. `c-42`"),
        ("month" = String, Path, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", description = "The calendar month, `YYYY-MM`"),
    ),
    responses(
        (status = 200, description = "The invoice's lines", body = String, content_type = "text/csv"),
        (status = 400, description = "Not a month", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "A system actor", body = ErrorBody),
        (status = 404, description = "Nothing charged that month, or another customer", body = ErrorBody),
        (status = 503, description = "The read model is unavailable or being built", body = ErrorBody),
    )
)]
async fn get_invoice_csv(
    State(state): State<BillingState>,
    ApiPath((customer_id, month)): ApiPath<(String, String)>,
    RequestActor(actor): RequestActor,
) -> Result<impl IntoResponse, ApiError> {
    valid_customer(&customer_id)?;
    let invoice = query::invoice(&state.pool, &actor, &customer_id, &month).await?;
    Ok(([(CONTENT_TYPE, "text/csv")], query::invoice_csv(&invoice)))
}
