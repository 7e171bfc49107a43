//! `ferry billing …`: the billing service's answers (loans, charges, invoices) read
//! and printed, and support's change of a loan's free period.

use crate::cli::BillingCommand;
use crate::client::{Answer, Api};
use crate::render::{named, show, table};
use ferry_billing::api::{
    Amount, ChargeLine, ChargeList, FreePeriodAnswer, Invoice, InvoiceList, LoanDetail,
};
use reqwest::Method;
use serde_json::json;

/// The migration a loan is asked for by: its id, or the server's latest migration,
/// over or not (a loan is read after its migration has completed, when the server
/// has no migration in progress any more).
async fn latest_migration(api: &Api, reference: &str) -> anyhow::Result<uuid::Uuid> {
    if let Ok(id) = uuid::Uuid::parse_str(reference) {
        return Ok(id);
    }
    let answer = api
        .fetch::<serde_json::Value>(&format!("/servers/{reference}"))
        .await?;
    match answer.json()["migration"]["migration_id"].as_str() {
        Some(id) => Ok(uuid::Uuid::parse_str(id)?),
        // Opened a moment ago and not yet on the read side: the command side knows.
        None => crate::commands::resolve(api, reference).await,
    }
}

/// Runs a billing subcommand.
pub async fn run(api: &Api, command: BillingCommand, json: bool) -> anyhow::Result<()> {
    match command {
        BillingCommand::Loan { migration } => {
            let id = latest_migration(api, &migration).await?;
            loan(&api.fetch(&format!("/loans/{id}")).await?, json)
        }
        BillingCommand::FreePeriod {
            migration,
            days,
            reason,
        } => {
            let id = latest_migration(api, &migration).await?;
            let body = json!({ "free_period_days": days, "reason": reason });
            free_period(
                &api.send(
                    Method::POST,
                    &format!("/loans/{id}/free-period"),
                    Some(body),
                )
                .await?,
                json,
            )
        }
        BillingCommand::Charges { customer, month } => {
            let path = match month {
                Some(month) => format!("/customers/{customer}/charges?month={month}"),
                None => format!("/customers/{customer}/charges"),
            };
            charges(&api.fetch(&path).await?, json)
        }
        BillingCommand::Invoices { customer } => invoices(
            &api.fetch(&format!("/customers/{customer}/invoices"))
                .await?,
            json,
        ),
        BillingCommand::Invoice {
            customer,
            month,
            csv,
        } => {
            let path = format!("/customers/{customer}/invoices/{month}");
            if csv {
                let text = api.get_text(&format!("{path}/csv")).await?;
                outln!("{}", text.trim_end());
                return Ok(());
            }
            invoice(&api.fetch(&path).await?, json)
        }
    }
}

fn totals(amounts: &[Amount]) -> String {
    if amounts.is_empty() {
        return "nothing".into();
    }
    amounts
        .iter()
        .map(Amount::display)
        .collect::<Vec<_>>()
        .join(" + ")
}

fn charge_rows(lines: &[ChargeLine]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|line| {
            vec![
                line.day.to_string(),
                line.client_server_id.clone(),
                line.transit_server_id.clone(),
                line.amount.display(),
                line.migration_id.to_string(),
            ]
        })
        .collect()
}

const CHARGE_HEADER: [&str; 5] = ["DAY", "SERVER", "TRANSIT", "AMOUNT", "MIGRATION"];

/// A loan.
pub fn loan(answer: &Answer<LoanDetail>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |loan| {
        outln!(
            "loan of {} to {} (customer {}, migration {})",
            loan.transit_server_id,
            loan.client_server_id,
            loan.customer_id,
            loan.migration_id
        );
        outln!(
            "  since {}, {} day(s) used{}",
            named(&loan.started_at),
            loan.days_used,
            match &loan.ended {
                Some(end) => format!(", ended {}", named(&end.ended_at)),
                None => String::new(),
            }
        );
        outln!(
            "  free for {} day(s), until {}; then {} a month, pro rata per day",
            loan.free_period_days,
            named(&loan.free_period_ends_at),
            loan.monthly_price.display()
        );
        outln!(
            "  {} day(s) charged: {}",
            loan.billable_days_charged,
            loan.charged_display
        );
        for change in &loan.free_period_changes {
            outln!(
                "  free period {} → {} day(s) by {} at {}: {}",
                change.previous_free_period_days,
                change.free_period_days,
                change.by,
                named(&change.at),
                change.reason
            );
        }
        for notice in &loan.notices {
            outln!(
                "  notice at {}: {} day(s) left, first day at {}",
                named(&notice.at),
                notice.days_left,
                notice.first_day_price.display()
            );
        }
        if !loan.charges.is_empty() {
            table(&CHARGE_HEADER, charge_rows(&loan.charges));
        }
    })
}

/// A free period changed.
pub fn free_period(answer: &Answer<FreePeriodAnswer>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |answer| {
        if answer.changed {
            outln!(
                "free period now {} day(s), until {} ({})",
                answer.free_period_days,
                named(&answer.free_period_ends_at),
                answer.events.join(", ")
            );
        } else {
            outln!(
                "unchanged: the free period was already {} day(s), until {}",
                answer.free_period_days,
                named(&answer.free_period_ends_at)
            );
        }
    })
}

/// A customer's charges.
pub fn charges(answer: &Answer<ChargeList>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |list| {
        let when = list
            .month
            .as_deref()
            .map_or_else(String::new, |m| format!(" in {m}"));
        if list.charges.is_empty() {
            outln!("no charge for {}{when}", list.customer_id);
            return;
        }
        table(&CHARGE_HEADER, charge_rows(&list.charges));
        outln!(
            "total for {}{when}: {}",
            list.customer_id,
            totals(&list.totals)
        );
    })
}

/// A customer's invoices.
pub fn invoices(answer: &Answer<InvoiceList>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |list| {
        if list.invoices.is_empty() {
            outln!("no invoice for {}", list.customer_id);
            return;
        }
        let rows = list
            .invoices
            .iter()
            .map(|i| vec![i.month.clone(), i.lines.to_string(), totals(&i.totals)])
            .collect();
        table(&["MONTH", "LINES", "TOTAL"], rows);
    })
}

/// One invoice.
pub fn invoice(answer: &Answer<Invoice>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |invoice| {
        outln!("invoice of {} for {}", invoice.customer_id, invoice.month);
        table(&CHARGE_HEADER, charge_rows(&invoice.lines));
        outln!("total: {}", totals(&invoice.totals));
    })
}
