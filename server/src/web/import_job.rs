//! Catalog CSV imports as background jobs with progress. The upload starts a job (its id is
//! the form's client id, so a resent form finds the job already started) and answers at once
//! with the job's page, which polls `GET /console/catalog/import/{job}/progress` and shows
//! the result when it is done: the errors by line (nothing imported), or how many products
//! were imported. The work is [`super::console::check_and_import`]: every line checked, then
//! all of it in one transaction — a large file is still all-or-nothing.
//!
//! Jobs live in the server's memory for an hour (a restart forgets them; an import that was
//! running then was rolled back with its transaction). Only the head-office account that
//! started a job may see it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Serialize;
use uuid::Uuid;

use super::console::{check_and_import, import_view, LineError};
use super::{console_page, Ctx, Staff, WebResult};
use crate::auth::Role;
use crate::error::AppError;
use crate::state::AppState;

/// How long a finished job is kept.
const KEEP: Duration = Duration::from_secs(3600);

/// Import job routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/catalog/import/{job}", get(page))
        .route("/console/catalog/import/{job}/progress", get(progress))
}

/// Where a job is.
#[derive(Clone, Debug)]
enum Phase {
    /// Reading and checking every line.
    Checking,
    /// Writing the products (see the counters).
    Importing,
    /// Done: this many products imported.
    Imported(usize),
    /// Done: nothing imported, for these reasons.
    Refused(Vec<LineError>),
}

/// One import.
#[derive(Debug)]
pub struct ImportJob {
    owner: String,
    started: Instant,
    total: AtomicUsize,
    done: AtomicUsize,
    phase: Mutex<Phase>,
}

impl ImportJob {
    fn phase(&self) -> Phase {
        self.phase
            .lock()
            .map(|p| p.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn set(&self, phase: Phase) {
        match self.phase.lock() {
            Ok(mut p) => *p = phase,
            Err(e) => *e.into_inner() = phase,
        }
    }
}

/// The running and recently finished imports, by job id.
#[derive(Debug, Default)]
pub struct ImportJobs {
    jobs: Mutex<HashMap<Uuid, Arc<ImportJob>>>,
}

impl ImportJobs {
    fn get(&self, id: Uuid) -> Option<Arc<ImportJob>> {
        self.jobs.lock().ok().and_then(|j| j.get(&id).cloned())
    }

    /// Registers a job unless its id is known; answers the new job, or None for a known id.
    fn insert(&self, id: Uuid, owner: &str) -> Option<Arc<ImportJob>> {
        let mut jobs = self.jobs.lock().ok()?;
        jobs.retain(|_, j| j.started.elapsed() < KEEP);
        if jobs.contains_key(&id) {
            return None;
        }
        let job = Arc::new(ImportJob {
            owner: owner.to_owned(),
            started: Instant::now(),
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            phase: Mutex::new(Phase::Checking),
        });
        jobs.insert(id, job.clone());
        Some(job)
    }
}

/// Starts checking and importing `bytes` as job `id` for `actor` (nothing happens when the
/// job already exists: a resent form).
pub fn start(state: &AppState, id: Uuid, actor: &str, bytes: Vec<u8>) {
    let Some(job) = state.web.imports.insert(id, actor) else {
        return;
    };
    let state = state.clone();
    let actor = actor.to_owned();
    tokio::spawn(async move {
        let counters = job.clone();
        let result = check_and_import(&state, &actor, &bytes, move |done, total| {
            counters.total.store(total, Ordering::Relaxed);
            counters.done.store(done, Ordering::Relaxed);
            if done == 0 {
                counters.set(Phase::Importing);
            }
        })
        .await;
        job.set(match result {
            Ok(Ok(n)) => Phase::Imported(n),
            Ok(Err(errors)) => Phase::Refused(errors),
            Err(e) => {
                tracing::error!(error = ?e, job = %id, "catalog import failed");
                Phase::Refused(vec![LineError {
                    line: 0,
                    message: "the import failed; nothing was imported, try again".into(),
                }])
            }
        });
    });
}

/// The job, if it exists and belongs to this staff member.
fn own_job(
    state: &AppState,
    staff: &crate::auth::StaffActor,
    id: Uuid,
) -> WebResult<Arc<ImportJob>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    state
        .web
        .imports
        .get(id)
        .filter(|j| j.owner == staff.actor())
        .ok_or_else(|| AppError::not_found("no such import").into())
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
) -> WebResult<Response> {
    let job = own_job(&state, &staff, id)?;
    Ok(match job.phase() {
        Phase::Imported(n) => import_view(&ctx, &staff, &[], Some(n)),
        Phase::Refused(errors) => import_view(&ctx, &staff, &errors, None),
        phase => {
            let (done, total) = (
                job.done.load(Ordering::Relaxed),
                job.total.load(Ordering::Relaxed),
            );
            let body = html! {
                div.card #import-job data-poll={ "/console/catalog/import/" (id) "/progress" } {
                    p #import-phase data-importing=(ctx.t("正在导入…", "Importing…")) { @match phase {
                        Phase::Checking => (ctx.t("正在逐行校验…", "Checking every line…")),
                        _ => (ctx.t("正在导入…", "Importing…")),
                    } }
                    // Until every line is checked the count is not known: the bar just moves.
                    @if total > 0 {
                        progress #import-progress max=(total) value=(done) style="width:100%" {}
                    } @else {
                        progress #import-progress style="width:100%" {}
                    }
                    p.muted #import-count hidden[total == 0] { span #import-done { (done) } " / " span #import-total { (total) }
                        (ctx.t(" 个商品。", " products. ")) }
                    p.muted { (ctx.t("全部成功才会生效，可离开此页稍后回来。", "Nothing takes effect unless all of them do; you may leave and come back.")) }
                }
            };
            console_page(&ctx, &staff, ctx.t("导入商品", "Import products"), body)
        }
    })
}

/// A job's progress, for the page's script.
#[derive(Debug, Serialize)]
struct Progress {
    /// `checking`, `importing` or `finished`.
    phase: &'static str,
    /// Products written so far.
    done: usize,
    /// Products to write (known once every line is checked).
    total: usize,
}

async fn progress(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
) -> WebResult<Response> {
    let job = own_job(&state, &staff, id)?;
    let phase = match job.phase() {
        Phase::Checking => "checking",
        Phase::Importing => "importing",
        Phase::Imported(_) | Phase::Refused(_) => "finished",
    };
    Ok(axum::Json(Progress {
        phase,
        done: job.done.load(Ordering::Relaxed),
        total: job.total.load(Ordering::Relaxed),
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_id_starts_once() {
        let jobs = ImportJobs::default();
        let id = retail_domain::ids::new_id();
        assert!(jobs.insert(id, "staff:admin").is_some());
        assert!(jobs.insert(id, "staff:admin").is_none(), "a resent form");
        let job = jobs.get(id).expect("kept");
        assert!(matches!(job.phase(), Phase::Checking));
        job.set(Phase::Imported(3));
        assert!(matches!(
            jobs.get(id).map(|j| j.phase()),
            Some(Phase::Imported(3))
        ));
    }
}
