//! Staff administration: creating accounts, assigning role and store, disabling, resetting a
//! password (which forces a change at the next log-in), staff changing their own password, and
//! lane PINs. Every change is written to the audit log in the transaction that makes it.
//!
//! Who may do what: head office administers every account; a store manager administers the
//! cashiers of their own store (create, disable, reset, PIN) and nothing else; a merchant
//! administrator (B2B2C) administers the store managers and cashiers of its own merchant's
//! stores and warehouses, and sees every other account as if it did not exist (404; a store
//! not its own named in a body is 422 `location_id`, as an unknown one). Nobody disables or
//! demotes the last active head-office administrator, so the chain can never lock itself out.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::secrets::{hash_password, verify_password};
use crate::storage::staff::{NewStaff, StaffChange, StaffRecord};
use crate::storage::{self, Store};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (Argon2 hashes anything, but a bound keeps requests small).
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Digits in a lane PIN.
pub const PIN_DIGITS: usize = 6;

/// A new staff account.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffRequest {
    /// Client-generated UUIDv7: a retry with the same id returns the account created first.
    pub id: Uuid,
    /// Log-in name: 3–32 of `a-z 0-9 . _ -`, stored lower-case.
    pub username: String,
    /// Name shown in the console and on receipts.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Home store or warehouse; required for store roles, absent for head office and
    /// merchant administrators.
    #[serde(default)]
    pub location_id: Option<String>,
    /// The merchant a `merchant_admin` works for (required for that role, absent otherwise).
    #[serde(default)]
    pub merchant_id: Option<String>,
    /// Initial password; the account must change it at its first log-in.
    pub password: String,
}

/// An administrator's change to an account; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffUpdate {
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New role.
    #[serde(default)]
    pub role: Option<Role>,
    /// New home store (`null` keeps it; head office accounts have none).
    #[serde(default)]
    pub location_id: Option<String>,
    /// Enable or disable the account (disabling ends its sessions).
    #[serde(default)]
    pub active: Option<bool>,
}

/// Who performs an administrative change: a logged-in member of staff, or the server's command
/// line (`retail-server admin …`, run by whoever operates the server).
#[derive(Debug, Clone, Copy)]
pub enum Administrator<'a> {
    /// A member of staff, checked against the rules above.
    Staff(&'a StaffActor),
    /// The operator at the server's command line: allowed everything.
    Operator,
}

impl Administrator<'_> {
    fn actor(&self) -> String {
        match self {
            Self::Staff(s) => s.actor(),
            Self::Operator => "operator:command-line".into(),
        }
    }

    /// May this administrator give an account `role` at `location` (a new account, or an
    /// account after a change)? 403 for a role out of its reach; for a merchant administrator,
    /// 422 `location_id` for a location that is not its own merchant's.
    async fn require_over(
        &self,
        store: &Store,
        role: Role,
        location: Option<&str>,
    ) -> AppResult<()> {
        match self {
            Self::Operator => Ok(()),
            Self::Staff(s) => match s.role {
                Role::HeadOfficeAdmin => Ok(()),
                Role::StoreManager if role == Role::Cashier => {
                    s.require_store(location.unwrap_or_default())
                }
                Role::MerchantAdmin if matches!(role, Role::StoreManager | Role::Cashier) => {
                    match location {
                        // check_location answers a store role without its store.
                        None => Ok(()),
                        Some(id) if super::locations::own(store, s, id).await?.is_some() => Ok(()),
                        Some(id) => Err(AppError::field(
                            "location_id",
                            format!("no location {id} among your merchant's stores and warehouses"),
                        )),
                    }
                }
                Role::MerchantAdmin => Err(AppError::Forbidden(
                    "a merchant administrator administers store managers and cashiers only".into(),
                )),
                _ => Err(AppError::Forbidden(
                    "only head office administers this account".into(),
                )),
            },
        }
    }

    /// 409 `merchant_not_approved` for a merchant administrator whose merchant is not trading
    /// (pending, rejected or suspended): it may still see its staff and disable their accounts,
    /// but neither add, enable, change nor give credentials to any.
    async fn require_trading(&self, store: &Store) -> AppResult<()> {
        match self {
            Self::Staff(s) if s.role == Role::MerchantAdmin => match s.merchant_scope()? {
                Some(merchant) => {
                    super::merchants::require_trading(store, merchant, "administer its staff").await
                }
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// May this administrator manage the existing `account`? As [`Self::require_over`] its
    /// role and store, except that a merchant administrator finds no account but those at its
    /// own merchant's locations (404, as for an unknown id).
    async fn require_account(&self, store: &Store, account: &StaffRecord) -> AppResult<()> {
        if let Self::Staff(s) = self {
            if s.role == Role::MerchantAdmin && !is_own_staff(store, s, account).await? {
                return Err(AppError::not_found(format!(
                    "staff {} not found",
                    account.actor.id
                )));
            }
        }
        self.require_over(
            store,
            account.actor.role,
            account.actor.location_id.as_deref(),
        )
        .await
    }
}

/// Whether `account` works at one of the locations of merchant administrator `by`'s merchant.
async fn is_own_staff(store: &Store, by: &StaffActor, account: &StaffRecord) -> AppResult<bool> {
    match account.actor.location_id.as_deref() {
        Some(location) => Ok(super::locations::own(store, by, location).await?.is_some()),
        None => Ok(false),
    }
}

/// Checks a user name and returns it normalised.
fn clean_username(username: &str) -> AppResult<String> {
    let name = username.trim().to_lowercase();
    let ok = (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(name)
    } else {
        Err(AppError::field(
            "username",
            "3 to 32 of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
        ))
    }
}

fn clean_display_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(AppError::field("display_name", "1 to 64 characters"));
    }
    Ok(name.to_owned())
}

/// Checks a new password against the chain's rules: 10 to 128 characters, not containing the
/// user name, and not guessable: zxcvbn (which carries lists of common and breached passwords,
/// keyboard patterns and dates) must rate it at least 3 of 4, counting the user's own names.
pub fn check_password(password: &str, username: &str, display_name: &str) -> AppResult<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AppError::field(
            "password",
            format!("at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AppError::field(
            "password",
            format!("at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(AppError::field(
            "password",
            "must not contain the user name",
        ));
    }
    let strength = zxcvbn::zxcvbn(password, &[username, display_name, "retail", "demo"]);
    if (strength.score() as u8) < 3 {
        return Err(AppError::field(
            "password",
            "too easy to guess (a common or breached password, a pattern or a name): \
             use a longer passphrase",
        ));
    }
    Ok(())
}

/// Checks a lane PIN: six digits, not one repeated digit and not a run (123456, 654321).
pub fn check_pin(pin: &str) -> AppResult<()> {
    let digits: Vec<u8> = pin.bytes().collect();
    if digits.len() != PIN_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return Err(AppError::field("pin", format!("{PIN_DIGITS} digits")));
    }
    if crate::secrets::guessable_pin(pin) {
        return Err(AppError::field(
            "pin",
            "too easy to guess (one digit repeated or a run)",
        ));
    }
    Ok(())
}

async fn hash(secret: &str) -> AppResult<String> {
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&secret))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(AppError::Internal)
}

/// Checks that a role and a home location fit together and the location exists.
async fn check_location(store: &Store, role: Role, location: Option<&str>) -> AppResult<()> {
    match (role, location) {
        (Role::HeadOfficeAdmin | Role::MerchantAdmin, None) => Ok(()),
        (Role::HeadOfficeAdmin | Role::MerchantAdmin, Some(_)) => Err(AppError::field(
            "location_id",
            "head office and merchant accounts belong to no store",
        )),
        (_, None) => Err(AppError::field(
            "location_id",
            "store roles need their store or warehouse",
        )),
        (_, Some(id)) => {
            let location = storage::locations::get(store, id)
                .await
                .map_err(|_| AppError::field("location_id", format!("no location {id}")))?;
            if location.kind == "head_office" {
                return Err(AppError::field(
                    "location_id",
                    "store roles belong to a store or warehouse",
                ));
            }
            Ok(())
        }
    }
}

/// Checks that a merchant administrator names an existing merchant other than the platform,
/// and that nobody else names one.
async fn check_merchant(store: &Store, role: Role, merchant: Option<&str>) -> AppResult<()> {
    match (role, merchant) {
        (Role::MerchantAdmin, None) => Err(AppError::field(
            "merchant_id",
            "a merchant administrator needs their merchant",
        )),
        (Role::MerchantAdmin, Some(id)) => {
            if id == storage::merchants::PLATFORM
                || storage::merchants::get(store, id).await?.is_none()
            {
                return Err(AppError::field(
                    "merchant_id",
                    format!("no merchant {id} (the platform's staff take the other roles)"),
                ));
            }
            Ok(())
        }
        (_, Some(_)) => Err(AppError::field(
            "merchant_id",
            "only merchant administrators belong to a merchant",
        )),
        (_, None) => Ok(()),
    }
}

/// Creates a staff account (idempotent by its client id). The account must change its password
/// at its first log-in, except the first head-office account made by the operator.
pub async fn create(
    store: &Store,
    by: Administrator<'_>,
    req: &NewStaffRequest,
) -> AppResult<StaffRecord> {
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    let username = clean_username(&req.username)?;
    let display_name = clean_display_name(&req.display_name)?;
    let location = req
        .location_id
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    by.require_over(store, req.role, location).await?;
    if let Some(existing) = storage::staff::record(store, req.id).await? {
        by.require_account(store, &existing).await?;
        return if existing.actor.username == username {
            Ok(existing)
        } else {
            Err(AppError::conflict(
                "id_conflict",
                "this id belongs to another account",
            ))
        };
    }
    by.require_trading(store).await?;
    let merchant = req
        .merchant_id
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    check_location(store, req.role, location).await?;
    check_merchant(store, req.role, merchant).await?;
    check_password(&req.password, &username, &display_name)?;
    let password_hash = hash(&req.password).await?;
    let must_change = !matches!(by, Administrator::Operator);
    let mut tx = store.begin().await?;
    let created = storage::staff::create(
        &mut tx,
        &NewStaff {
            id: req.id,
            username: &username,
            display_name: &display_name,
            password_hash: &password_hash,
            role: req.role,
            location_id: location,
            merchant_id: merchant,
        },
        must_change,
    )
    .await?;
    if !created {
        drop(tx);
        // A concurrent retry of the same request won the race: answer with its account.
        return match storage::staff::record(store, req.id).await? {
            Some(existing) if existing.actor.username == username => Ok(existing),
            _ => Err(AppError::conflict(
                "username_taken",
                format!("the user name {username} is taken"),
            )),
        };
    }
    storage::audit::record(
        &mut tx,
        &by.actor(),
        "staff.create",
        "staff",
        &req.id.to_string(),
        json!({ "username": username, "role": req.role.as_str(), "location_id": location,
                "merchant_id": merchant }),
    )
    .await?;
    tx.commit().await?;
    storage::staff::record(store, req.id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("staff {} vanished", req.id)))
}

async fn locked_account(tx: &mut storage::Tx, store: &Store, id: Uuid) -> AppResult<StaffRecord> {
    storage::staff::record_for_update(tx, store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("staff {id} not found")))
}

/// Applies an administrator's change (name, role, store, enabled). Disabling an account or
/// changing its role or store ends its sessions, so the change takes effect at once.
pub async fn update(
    store: &Store,
    by: Administrator<'_>,
    id: Uuid,
    change: &StaffUpdate,
) -> AppResult<StaffRecord> {
    let mut tx = store.begin().await?;
    let current = locked_account(&mut tx, store, id).await?;
    by.require_account(store, &current).await?;
    let only_disables = change.active == Some(false)
        && change.display_name.is_none()
        && change.role.is_none()
        && change.location_id.is_none();
    if !only_disables {
        by.require_trading(store).await?;
    }
    let role = change.role.unwrap_or(current.actor.role);
    let location = match (role, &change.location_id) {
        (Role::HeadOfficeAdmin | Role::MerchantAdmin, _) => None,
        (_, Some(l)) => Some(l.trim().to_owned()),
        (_, None) => current.actor.location_id.clone(),
    };
    by.require_over(store, role, location.as_deref()).await?;
    if (role == Role::MerchantAdmin) != (current.actor.role == Role::MerchantAdmin) {
        return Err(AppError::field(
            "role",
            "a merchant administrator stays one (and nobody becomes one): create a new account",
        ));
    }
    let display_name = match &change.display_name {
        Some(name) => clean_display_name(name)?,
        None => current.actor.display_name.clone(),
    };
    let active = change.active.unwrap_or(current.active);
    if let Administrator::Staff(me) = by {
        if me.id == id && (!active || role != current.actor.role) {
            return Err(AppError::conflict(
                "own_account",
                "you cannot disable your own account or change your own role",
            ));
        }
    }
    let loses_admin = current.actor.role == Role::HeadOfficeAdmin
        && current.active
        && (role != Role::HeadOfficeAdmin || !active);
    if loses_admin && storage::staff::other_active_admins(&mut tx, id).await? == 0 {
        return Err(AppError::conflict(
            "last_admin",
            "this is the last active head-office administrator",
        ));
    }
    check_location(store, role, location.as_deref()).await?;
    storage::staff::update(
        &mut tx,
        id,
        &StaffChange {
            display_name: &display_name,
            role,
            location_id: location.as_deref(),
            active,
        },
    )
    .await?;
    let access_changed =
        !active || role != current.actor.role || location != current.actor.location_id;
    let revoked = if access_changed {
        storage::staff::revoke_sessions(&mut tx, id, None).await?
    } else {
        0
    };
    storage::audit::record(
        &mut tx,
        &by.actor(),
        if active == current.active {
            "staff.update"
        } else if active {
            "staff.enable"
        } else {
            "staff.disable"
        },
        "staff",
        &id.to_string(),
        json!({
            "before": { "display_name": current.actor.display_name, "role": current.actor.role.as_str(),
                        "location_id": current.actor.location_id, "active": current.active },
            "after": { "display_name": display_name, "role": role.as_str(),
                       "location_id": location, "active": active },
            "sessions_revoked": revoked,
        }),
    )
    .await?;
    tx.commit().await?;
    storage::staff::record(store, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("staff {id} vanished")))
}

/// An administrator sets a new password for an account: its sessions end, and it must choose
/// its own password at the next log-in.
pub async fn reset_password(
    store: &Store,
    by: Administrator<'_>,
    id: Uuid,
    password: &str,
) -> AppResult<StaffRecord> {
    let current = storage::staff::record(store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("staff {id} not found")))?;
    by.require_account(store, &current).await?;
    by.require_trading(store).await?;
    check_password(
        password,
        &current.actor.username,
        &current.actor.display_name,
    )?;
    let password_hash = hash(password).await?;
    let must_change = !matches!(by, Administrator::Operator);
    let mut tx = store.begin().await?;
    locked_account(&mut tx, store, id).await?;
    storage::staff::set_password(&mut tx, id, &password_hash, must_change).await?;
    let revoked = storage::staff::revoke_sessions(&mut tx, id, None).await?;
    storage::audit::record(
        &mut tx,
        &by.actor(),
        "staff.password_reset",
        "staff",
        &id.to_string(),
        json!({ "must_change_password": must_change, "sessions_revoked": revoked }),
    )
    .await?;
    tx.commit().await?;
    storage::staff::record(store, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("staff {id} vanished")))
}

/// A member of staff changes their own password (the old one is required). Their other
/// sessions end; the one in use (`session_hash`) stays.
pub async fn change_own_password(
    store: &Store,
    me: &StaffActor,
    session_hash: Option<&str>,
    old_password: &str,
    new_password: &str,
) -> AppResult<()> {
    let current = storage::staff::password_hash(store, me.id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("account not found".into()))?;
    let old = old_password.to_owned();
    let ok =
        tokio::task::spawn_blocking(move || old.len() <= 256 && verify_password(&old, &current))
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
    if !ok {
        return Err(AppError::field("old_password", "wrong password"));
    }
    if old_password == new_password {
        return Err(AppError::field(
            "password",
            "choose a password different from the current one",
        ));
    }
    check_password(new_password, &me.username, &me.display_name)?;
    let password_hash = hash(new_password).await?;
    let mut tx = store.begin().await?;
    storage::staff::set_password(&mut tx, me.id, &password_hash, false).await?;
    let revoked = storage::staff::revoke_sessions(&mut tx, me.id, session_hash).await?;
    storage::audit::record(
        &mut tx,
        &me.actor(),
        "staff.password_change",
        "staff",
        &me.id.to_string(),
        json!({ "sessions_revoked": revoked }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets (or removes, with `None`) an account's lane PIN, with which a cashier logs in at a
/// lane; the lanes of the store pull the hash and check it offline.
pub async fn set_pin(
    store: &Store,
    by: Administrator<'_>,
    id: Uuid,
    pin: Option<&str>,
) -> AppResult<StaffRecord> {
    let current = storage::staff::record(store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("staff {id} not found")))?;
    by.require_account(store, &current).await?;
    by.require_trading(store).await?;
    let pin_hash = match pin {
        Some(pin) => {
            check_pin(pin)?;
            Some(hash(pin).await?)
        }
        None => None,
    };
    let mut tx = store.begin().await?;
    storage::staff::set_pin(&mut tx, id, pin_hash.as_deref()).await?;
    storage::audit::record(
        &mut tx,
        &by.actor(),
        if pin.is_some() {
            "staff.pin_set"
        } else {
            "staff.pin_clear"
        },
        "staff",
        &id.to_string(),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    storage::staff::record(store, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("staff {id} vanished")))
}

/// One account, if `by` may see it (see [`list`]): 404 otherwise, so a store manager or a
/// merchant administrator learns nothing of other stores' accounts.
pub async fn get(store: &Store, by: &StaffActor, id: Uuid) -> AppResult<StaffRecord> {
    let missing = || AppError::not_found(format!("staff {id} not found"));
    let record = storage::staff::record(store, id)
        .await?
        .ok_or_else(missing)?;
    let visible = match by.role {
        Role::HeadOfficeAdmin => true,
        Role::StoreManager => {
            by.location_id.is_some() && record.actor.location_id == by.location_id
        }
        Role::MerchantAdmin => is_own_staff(store, by, &record).await?,
        Role::Cashier => {
            return Err(AppError::Forbidden(format!(
                "the {} role may not do this",
                by.role.as_str()
            )))
        }
    };
    if visible {
        Ok(record)
    } else {
        Err(missing())
    }
}

/// Staff accounts an administrator may see: head office all (or one location's), a store
/// manager their own store's, a merchant administrator those at its own merchant's stores and
/// warehouses (or one of them; another's is 404).
pub async fn list(
    store: &Store,
    by: &StaffActor,
    location: Option<&str>,
) -> AppResult<Vec<StaffRecord>> {
    match by.role {
        Role::HeadOfficeAdmin => storage::staff::records(store, location).await,
        Role::StoreManager => {
            let own = by
                .location_id
                .as_deref()
                .ok_or_else(|| AppError::Forbidden("no store".into()))?;
            if location.is_some_and(|l| l != own) {
                return Err(AppError::Forbidden(format!(
                    "{} may not see the staff of {}",
                    by.username,
                    location.unwrap_or_default()
                )));
            }
            storage::staff::records(store, Some(own)).await
        }
        Role::MerchantAdmin => match location {
            Some(location) => {
                if super::locations::own(store, by, location).await?.is_none() {
                    return Err(AppError::not_found(format!(
                        "location {location} not found"
                    )));
                }
                storage::staff::records(store, Some(location)).await
            }
            None => match by.merchant_scope()? {
                Some(merchant) => storage::staff::records_of_merchant(store, merchant).await,
                None => Err(AppError::Forbidden("no merchant".into())),
            },
        },
        Role::Cashier => Err(AppError::Forbidden(format!(
            "the {} role may not do this",
            by.role.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused() {
        for weak in [
            "demo1234",
            "password123",
            "1234567890",
            "qwertyuiop",
            "iloveyou12",
            "admin12345",
            "aaaaaaaaaaaa",
        ] {
            assert!(
                check_password(weak, "zhang.wei", "Zhang Wei").is_err(),
                "{weak}"
            );
        }
        assert!(check_password("zhang.wei-2026!", "zhang.wei", "Zhang Wei").is_err());
        assert!(check_password("tangerine orbit canal 42", "zhang.wei", "Zhang Wei").is_ok());
        let long = "x".repeat(MAX_PASSWORD_CHARS + 1);
        assert!(check_password(&long, "zhang.wei", "Zhang Wei").is_err());
    }

    #[test]
    fn pins_are_six_digits_and_not_obvious() {
        assert!(check_pin("480315").is_ok());
        for bad in [
            "123456",
            "654321",
            "000000",
            "12345",
            "1234567",
            "12a456",
            "４８０３１５",
        ] {
            assert!(check_pin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_names_are_normalised_and_checked() {
        assert_eq!(clean_username(" Li.Na ").ok().as_deref(), Some("li.na"));
        for bad in ["ab", "-lead", "li na", "李娜", &"a".repeat(33)] {
            assert!(clean_username(bad).is_err(), "{bad}");
        }
    }
}
