//! The scan-and-go exit gate (docs/DESIGN.md §7, §8).
//!
//! A QR scanner on a serial line sends the shopper's exit pass; the relay board opens the gate
//! or sounds the alarm. [`run_gate`] is generic over `AsyncRead` (scanner) and `AsyncWrite`
//! (relay), so a real serial port, a pseudo-terminal or a test buffer all work. Per frame:
//!
//! 1. the frame codec ([`retail_devices::scanner`], the same line protocol as the lanes) turns
//!    bytes into frames; garbage is a frame too and gets a `deny` with its reason;
//! 2. [`decide`] verifies the pass **offline** with the server's public key (signature, expiry,
//!    this store, never used at any gate of this store — the local used-set holds this agent's
//!    uses and those learned from the bus), then applies the audit rules (totals or item counts
//!    over a threshold, the shopper's first scan-and-go visit(s) — the visit number is signed
//!    into the pass by the server — and a random share);
//! 3. the pass is marked used and the `exit_scan` event queued in **one** local transaction, so
//!    a pass is never used twice and no decision is lost with the broker or server down;
//! 4. the relay gets the profile's bytes ([`RelayCommand`]): `open` (then `close` after the
//!    pulse) or `alarm_on` (then `alarm_off`) for deny and audit;
//! 5. the gate's display, when the inventory gives it one, shows the decision and its reason
//!    (bytes from its profile, see [`crate::display`]) until the release, then asks for the next
//!    pass.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use rand::Rng as _;
use retail_devices::display::DisplayLayout;
use retail_devices::relay::RelayCommand;
use retail_devices::scanner::{ScanFrame, ScanFrameCodec};
use retail_domain::codes::{CodeError, CodeVerifier, SignedCode};
use retail_domain::profiles::{GateCommands, GateTiming};
use retail_domain::wire::bus::{self, DeviceEvent, EventMessage, GateDecision};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::GateRules;
use crate::display::{self, Message};
use crate::store::LocalStore;

/// What one gate is.
#[derive(Clone, Debug)]
pub struct GateSetup {
    /// Its name in events, e.g. `gate-1`.
    pub name: String,
    /// The scanner's frame codec (from its profile).
    pub codec: ScanFrameCodec,
    /// The relay's command bytes (from its profile).
    pub commands: GateCommands,
    /// The relay's timing (from its profile).
    pub timing: GateTiming,
    /// The display's layout and bytes (from its profile), when the gate has one.
    pub display: Option<DisplayLayout>,
}

/// What every gate of the agent shares.
#[derive(Clone, Debug)]
pub struct GateContext {
    /// This store's code.
    pub store_code: String,
    /// This agent's device id (its events topic).
    pub device: Uuid,
    /// The local database.
    pub store: LocalStore,
    /// The code-verifier key (the pinned one; None until the server was reached once with the
    /// device credential, unless the configuration names it).
    pub verifier: watch::Receiver<Option<Arc<CodeVerifier>>>,
    /// Audit rules.
    pub rules: GateRules,
    /// Wakes the outbox sender.
    pub outbox: Arc<Notify>,
}

/// The gate's answer to one scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Open, deny or audit.
    pub decision: GateDecision,
    /// Why (deny and audit).
    pub reason: Option<String>,
    /// The pass's session, when the scan was a readable pass.
    pub session_id: Option<Uuid>,
}

fn deny(reason: impl Into<String>, session_id: Option<Uuid>) -> Verdict {
    Verdict {
        decision: GateDecision::Deny,
        reason: Some(reason.into()),
        session_id,
    }
}

/// Decides on a scanned text, records the decision (pass used + event queued, atomically) and
/// returns it. Never panics on any input.
pub async fn decide(ctx: &GateContext, gate: &str, text: &str, now: DateTime<Utc>) -> Verdict {
    let (verdict, pass) = assess(ctx, text, now).await;
    record(ctx, gate, verdict, pass, now).await
}

/// Records a deny for a frame that was not even readable (garbage on the scanner line).
pub async fn garbled(ctx: &GateContext, gate: &str, reason: &str, now: DateTime<Utc>) -> Verdict {
    record(
        ctx,
        gate,
        deny(format!("unreadable scan: {reason}"), None),
        None,
        now,
    )
    .await
}

async fn assess(
    ctx: &GateContext,
    text: &str,
    now: DateTime<Utc>,
) -> (Verdict, Option<retail_domain::codes::ExitPass>) {
    let verifier = ctx.verifier.borrow().clone();
    let (verdict, pass) = match verifier {
        None => (
            deny("no code-verifier key yet (server never reached)", None),
            None,
        ),
        Some(verifier) => match verifier.verify(text, now) {
            Ok(SignedCode::ExitPass(pass)) => {
                if pass.store != ctx.store_code {
                    (
                        deny(
                            format!("pass is for store {}", pass.store),
                            Some(pass.session_id),
                        ),
                        None,
                    )
                } else {
                    match ctx.store.pass_used(pass.session_id).await {
                        Ok(true) => (deny("pass already used", Some(pass.session_id)), None),
                        Ok(false) => (rules(&ctx.rules, &pass), Some(pass)),
                        Err(err) => {
                            tracing::error!(error = %err, "reading used passes failed");
                            (
                                deny("gate database unavailable", Some(pass.session_id)),
                                None,
                            )
                        }
                    }
                }
            }
            Ok(_) => (deny("not an exit pass", None), None),
            Err(CodeError::BadSignature) => (deny("forged pass (bad signature)", None), None),
            Err(CodeError::Expired) => (deny("pass expired", None), None),
            Err(err) => (deny(format!("not a valid pass: {err}"), None), None),
        },
    };
    (verdict, pass)
}

async fn record(
    ctx: &GateContext,
    gate: &str,
    verdict: Verdict,
    pass: Option<retail_domain::codes::ExitPass>,
    now: DateTime<Utc>,
) -> Verdict {
    let message_id = Uuid::now_v7();
    let event = EventMessage {
        v: bus::VERSION,
        message_id,
        at: now,
        store: ctx.store_code.clone(),
        event: DeviceEvent::ExitScan {
            gate: gate.to_owned(),
            session_id: verdict.session_id,
            decision: verdict.decision,
            reason: verdict.reason.clone(),
            item_count: pass.as_ref().map(|p| p.item_count),
            total: pass.as_ref().map(|p| p.total),
        },
    };
    let payload = serde_json::to_vec(&event).unwrap_or_default();
    let topic = bus::events_topic(&ctx.store_code, ctx.device);
    let use_pass = match (&pass, verdict.decision.uses_pass()) {
        (Some(p), true) => Some((p.session_id, gate)),
        _ => None,
    };
    let verdict = match ctx
        .store
        .record_gate_decision(use_pass, &topic, message_id, &payload)
        .await
    {
        Ok(true) => verdict,
        // Used at another gate between the check and now: record the refusal instead.
        Ok(false) => {
            return Box::pin(record(
                ctx,
                gate,
                deny("pass already used", verdict.session_id),
                None,
                now,
            ))
            .await
        }
        Err(err) => {
            tracing::error!(error = %err, "recording the gate decision failed");
            deny("gate database unavailable", verdict.session_id)
        }
    };
    ctx.outbox.notify_one();
    verdict
}

/// The audit rules for a valid, unused pass of this store.
fn rules(rules: &GateRules, pass: &retail_domain::codes::ExitPass) -> Verdict {
    let reason = if pass.total > rules.audit_over {
        Some(format!(
            "basket total {} over {}",
            pass.total, rules.audit_over
        ))
    } else if pass.item_count > rules.audit_items_over {
        Some(format!(
            "{} items, over {}",
            pass.item_count, rules.audit_items_over
        ))
    } else if let Some(visit) = pass.visit.filter(|v| *v <= rules.audit_first_visits) {
        Some(if visit == 1 {
            "first scan-and-go visit".to_owned()
        } else {
            format!(
                "scan-and-go visit {visit} of the first {}",
                rules.audit_first_visits
            )
        })
    } else if rand::thread_rng().gen::<f64>() < rules.audit_share {
        Some("random audit".to_owned())
    } else {
        None
    };
    match reason {
        Some(reason) => Verdict {
            decision: GateDecision::Audit,
            reason: Some(reason),
            session_id: Some(pass.session_id),
        },
        None => Verdict {
            decision: GateDecision::Open,
            reason: None,
            session_id: Some(pass.session_id),
        },
    }
}

/// The gate's display line with its layout; a write failure is logged and the display left
/// alone from then on (the gate itself keeps working).
struct DisplayLine<'a> {
    gate: &'a str,
    layout: DisplayLayout,
    line: Box<dyn AsyncWrite + Send + Unpin>,
}

impl DisplayLine<'_> {
    async fn send(slot: &mut Option<Self>, bytes: &[u8]) {
        let Some(screen) = slot else { return };
        let result = async {
            screen.line.write_all(bytes).await?;
            screen.line.flush().await
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(gate = %screen.gate, error = %err, "the gate display stopped answering");
            *slot = None;
        }
    }

    async fn show(slot: &mut Option<Self>, message: Message<'_>) {
        let Some(bytes) = slot.as_ref().map(|d| display::frame(&d.layout, message)) else {
            return;
        };
        Self::send(slot, &bytes).await;
    }
}

/// Runs one gate until `cancel` or the scanner line ends: scans in, relay bytes out, and the
/// decision with its reason on the gate's display (`display`, when the setup has a display
/// layout). `open` requests (staff commands) open the gate without a scan. Each verdict is also
/// sent to `verdicts` (for the log and tests), if given.
#[allow(clippy::too_many_arguments)]
pub async fn run_gate<R, W>(
    setup: GateSetup,
    ctx: GateContext,
    scanner: R,
    mut relay: W,
    display: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    mut open: mpsc::Receiver<()>,
    verdicts: Option<mpsc::UnboundedSender<Verdict>>,
    cancel: CancellationToken,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut frames = FramedRead::new(scanner, setup.codec.clone());
    let mut display = match (setup.display.clone(), display) {
        (Some(layout), Some(line)) => Some(DisplayLine {
            gate: &setup.name,
            layout,
            line,
        }),
        _ => None,
    };
    if let Some(init) = display.as_ref().and_then(|d| d.layout.init.clone()) {
        DisplayLine::send(&mut display, &init).await;
    }
    DisplayLine::show(&mut display, Message::Idle).await;
    // The pending release command (close or alarm_off) and when to send it.
    let mut release: Option<(tokio::time::Instant, RelayCommand)> = None;
    loop {
        let until = release
            .as_ref()
            .map(|(at, _)| *at)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep_until(until), if release.is_some() => {
                if let Some((_, command)) = release.take() {
                    relay.write_all(command.bytes(&setup.commands)).await?;
                    relay.flush().await?;
                    DisplayLine::show(&mut display, Message::Idle).await;
                }
            }
            Some(()) = open.recv() => {
                if let Some((_, previous)) = release.take() {
                    relay.write_all(previous.bytes(&setup.commands)).await?;
                    DisplayLine::show(&mut display, Message::Idle).await;
                }
                relay.write_all(RelayCommand::Open.bytes(&setup.commands)).await?;
                relay.flush().await?;
                release = held(&setup, RelayCommand::Open);
                DisplayLine::show(&mut display, Message::OpenedByStaff).await;
                tracing::info!(gate = %setup.name, "gate opened by staff");
            }
            frame = frames.next() => {
                let frame = match frame {
                    None => break,
                    Some(Ok(frame)) => frame,
                    Some(Err(err)) => return Err(std::io::Error::other(err.to_string())),
                };
                let verdict = match frame {
                    ScanFrame::Code { text, .. } => decide(&ctx, &setup.name, &text, Utc::now()).await,
                    ScanFrame::Garbled { reason } => garbled(&ctx, &setup.name, &reason, Utc::now()).await,
                };
                let command = match verdict.decision {
                    GateDecision::Open => RelayCommand::Open,
                    GateDecision::Deny | GateDecision::Audit => RelayCommand::AlarmOn,
                };
                let follow = held(&setup, command);
                // A release still pending for the previous scan goes out first (the display too
                // goes back to idle first, so every decision is followed by its release).
                if let Some((_, previous)) = release.take() {
                    relay.write_all(previous.bytes(&setup.commands)).await?;
                    DisplayLine::show(&mut display, Message::Idle).await;
                }
                relay.write_all(command.bytes(&setup.commands)).await?;
                relay.flush().await?;
                release = follow;
                DisplayLine::show(
                    &mut display,
                    Message::Verdict(verdict.decision, verdict.reason.as_deref()),
                )
                .await;
                match &verdict.reason {
                    Some(reason) => tracing::info!(gate = %setup.name, decision = verdict.decision.as_str(), %reason, "exit scan"),
                    None => tracing::info!(gate = %setup.name, decision = verdict.decision.as_str(), "exit scan"),
                }
                if let Some(verdicts) = &verdicts {
                    let _ = verdicts.send(verdict);
                }
            }
        }
    }
    if let Some((_, command)) = release.take() {
        relay.write_all(command.bytes(&setup.commands)).await?;
        relay.flush().await?;
        DisplayLine::show(&mut display, Message::Idle).await;
    }
    Ok(())
}

/// The release of `command` sent now (`close` after `open`, `alarm_off` after `alarm_on`) and
/// when it is due, by the relay's timing.
fn held(setup: &GateSetup, command: RelayCommand) -> Option<(tokio::time::Instant, RelayCommand)> {
    command
        .release(&setup.timing)
        .map(|(hold, then)| (tokio::time::Instant::now() + hold, then))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use retail_domain::codes::ExitPass;
    use retail_domain::money::Money;

    use super::*;

    fn pass(items: u32, fen: i64, visit: Option<u32>) -> ExitPass {
        ExitPass {
            session_id: Uuid::now_v7(),
            store: "SH001".into(),
            item_count: items,
            total: Money::from_fen(fen),
            expires_at: Utc::now(),
            visit,
        }
    }

    fn rules_with(first_visits: u32) -> GateRules {
        GateRules {
            audit_share: 0.0,
            audit_over: Money::from_fen(30_000),
            audit_items_over: 30,
            audit_first_visits: first_visits,
        }
    }

    fn verdict(rules_: &GateRules, p: &ExitPass) -> (GateDecision, Option<String>) {
        let v = rules(rules_, p);
        (v.decision, v.reason)
    }

    #[test]
    fn first_visits_are_audited() {
        let one = rules_with(1);
        assert_eq!(
            verdict(&one, &pass(1, 100, Some(1))),
            (
                GateDecision::Audit,
                Some("first scan-and-go visit".to_owned())
            )
        );
        assert_eq!(
            verdict(&one, &pass(1, 100, Some(2))),
            (GateDecision::Open, None)
        );
        // Passes without a visit number (EX1) are exempt.
        assert_eq!(
            verdict(&one, &pass(1, 100, None)),
            (GateDecision::Open, None)
        );
        let three = rules_with(3);
        assert_eq!(
            verdict(&three, &pass(1, 100, Some(3))),
            (
                GateDecision::Audit,
                Some("scan-and-go visit 3 of the first 3".to_owned())
            )
        );
        assert_eq!(
            verdict(&three, &pass(1, 100, Some(4))).0,
            GateDecision::Open
        );
        // 0 turns the rule off.
        assert_eq!(
            verdict(&rules_with(0), &pass(1, 100, Some(1))).0,
            GateDecision::Open
        );
        // The thresholds still apply, and name themselves first.
        assert_eq!(
            verdict(&one, &pass(1, 30_001, Some(1))).1.unwrap(),
            "basket total 300.01 over 300.00"
        );
        assert_eq!(
            verdict(&one, &pass(31, 100, Some(9))).1.unwrap(),
            "31 items, over 30"
        );
        // A random share of 1 audits everything.
        let all = GateRules {
            audit_share: 1.0,
            ..rules_with(0)
        };
        assert_eq!(
            verdict(&all, &pass(1, 100, Some(9))).1.unwrap(),
            "random audit"
        );
    }
}
