//! Checks of what people type into the inventory (a fleet file, the API): a bad
//! registration is refused with a reason naming the field, and changes nothing.
//! What reaches a file system, a tool or a database server (roots, account and
//! database names, URLs, sizes) is checked by [`ferry_events::input`].

use ferry_events::input::{
    self, check_account_name, check_database_name, check_inventory_id, check_size,
    check_storage_root,
};
use ferry_events::{
    AccountSpec, DatabaseEngine, ServerRegistered, ServerStorage, is_blank, validate_addresses,
    validate_aggregate_id, validate_token,
};
use std::collections::BTreeSet;

/// Checks a server registration and its accounts.
pub fn server(server: &ServerRegistered, accounts: &[AccountSpec]) -> Result<(), String> {
    check_inventory_id("server_id", &server.server_id).map_err(|e| e.to_string())?;
    validate_aggregate_id(&server.configuration).map_err(|e| format!("configuration: {e}"))?;
    non_empty("name", &server.name)?;
    validate_aggregate_id(&server.infrastructure_version)
        .map_err(|e| format!("infrastructure_version: {e}"))?;
    check_inventory_id("customer_id", &server.customer_id).map_err(|e| e.to_string())?;
    locale(&server.locale)?;
    email(&server.contact_email)?;
    validate_addresses(&server.ipv4, &server.ipv6)?;
    if server.monthly_price.amount_cents < 0 {
        return Err("monthly_price: a price cannot be negative".into());
    }
    let currency = &server.monthly_price.currency;
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "monthly_price.currency: {currency:?} is not an ISO 4217 code like EUR"
        ));
    }
    let prefixes = storage(&server.storage)?;
    let (mut ids, mut names, mut databases) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for account in accounts {
        let id = &account.account_id;
        check_inventory_id("account_id", id).map_err(|e| e.to_string())?;
        if !ids.insert(id) {
            return Err(format!("account {id} is listed twice"));
        }
        check_account_name(&format!("account {id}: name"), &account.name)
            .map_err(|e| e.to_string())?;
        check_size(&format!("account {id}: files_bytes"), account.files_bytes)
            .map_err(|e| e.to_string())?;
        check_size(&format!("account {id}: mail_bytes"), account.mail_bytes)
            .map_err(|e| e.to_string())?;
        if !names.insert(&account.name) {
            return Err(format!("account name {:?} is used twice", account.name));
        }
        for language in &account.languages {
            validate_token(&format!("account {id}: language"), &language.language)?;
            validate_token(
                &format!("account {id}: language version"),
                &language.version,
            )?;
        }
        for database in &account.databases {
            let field = format!("account {id}: database");
            check_database_name(&field, &database.name).map_err(|e| e.to_string())?;
            check_size(
                &format!("{field} {}: size_bytes", database.name),
                database.size_bytes,
            )
            .map_err(|e| e.to_string())?;
            validate_token(
                &format!("account {id}: database version"),
                &database.version,
            )?;
            if !databases.insert((database.engine as u8, &database.name)) {
                return Err(format!(
                    "database {:?} is listed twice on the server",
                    database.name
                ));
            }
            let served = match database.engine {
                DatabaseEngine::Postgres => server.storage.postgres_url.is_some(),
                DatabaseEngine::Mysql => server.storage.mysql_url.is_some(),
            };
            let prefix = match database.engine {
                DatabaseEngine::Postgres => &prefixes.0,
                DatabaseEngine::Mysql => &prefixes.1,
            };
            if prefix.len() + database.name.len() > input::MAX_DATABASE_NAME {
                return Err(format!(
                    "account {id}: database {:?} with the server's prefix {prefix:?} is longer \
                     than {} bytes",
                    database.name,
                    input::MAX_DATABASE_NAME
                ));
            }
            if !served {
                return Err(format!(
                    "account {id}: database {:?} needs the server's {} URL in storage",
                    database.name,
                    match database.engine {
                        DatabaseEngine::Postgres => "postgres_url",
                        DatabaseEngine::Mysql => "mysql_url",
                    }
                ));
            }
        }
        for domain in &account.domains {
            domain_name(id, &domain.name)?;
        }
    }
    Ok(())
}

/// Checks a server's storage (roots and URLs); gives the prefix of its PostgreSQL
/// and MySQL databases (empty without one).
pub fn storage(storage: &ServerStorage) -> Result<(String, String), String> {
    check_storage_root("storage.files_root", &storage.files_root).map_err(|e| e.to_string())?;
    check_storage_root("storage.mail_root", &storage.mail_root).map_err(|e| e.to_string())?;
    // Recorded: no password in a URL, only credential references.
    ferry_events::input::check_recorded_databases("storage", storage).map_err(|e| e.to_string())
}

fn non_empty(field: &str, value: &str) -> Result<(), String> {
    if is_blank(value) {
        return Err(format!("{field} is empty"));
    }
    Ok(())
}

fn email(address: &str) -> Result<(), String> {
    let valid = address
        .split_once('@')
        .is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !host.ends_with('.'));
    if !valid || address.chars().any(char::is_whitespace) {
        return Err(format!(
            "contact_email: {address:?} is not an e-mail address"
        ));
    }
    Ok(())
}

/// A language tag such as `fr`, `pt-BR` or `zh_Hant`: the language in 2 or 3
/// lowercase letters, then subtags of 2 to 8 letters or digits.
fn locale(locale: &str) -> Result<(), String> {
    let mut parts = locale.split(['-', '_']);
    let language = parts.next().unwrap_or_default();
    let valid = (2..=3).contains(&language.len())
        && language.chars().all(|c| c.is_ascii_lowercase())
        && parts.all(|tag| {
            (2..=8).contains(&tag.len()) && tag.chars().all(|c| c.is_ascii_alphanumeric())
        });
    if !valid {
        return Err(format!(
            "locale: {locale:?} is not a language tag like fr or pt-BR"
        ));
    }
    Ok(())
}

fn domain_name(id: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && !name.ends_with('.')
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
    if !valid {
        return Err(format!(
            "account {id}: {name:?} is not a lowercase domain name without trailing dot"
        ));
    }
    Ok(())
}
