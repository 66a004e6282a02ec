//! The lane's counter scale (issue 21): weighed items scanned by their plain barcode are priced
//! from the scale's stable weight.
//!
//! The scale speaks the Mettler Toledo 8217 protocol on its serial port
//! ([`retail_devices::counter_scale`]); the lane asks for the weight every `poll_ms` of its
//! profile and keeps the last answer. The rules at the lane:
//!
//! * a weight is taken only when the scale reports it **stable** (the 8217 sends no weight while
//!   the load moves, is under zero or over capacity);
//! * the scale must return to **zero** (at most the profile's `zero_band_g`) between two weighed
//!   items, so one load is never sold twice;
//! * `scale tare` tares the container on the platter (the weights are then net), `scale
//!   cleartare` clears it, `scale zero` zeroes an empty platter.
//!
//! With `--simulate` and no `scale_port`, the lane runs a virtual scale on a pseudo-terminal and
//! the headless command `scale sim GRAMS|moving|garbage` sets what lies on it.

use std::time::Duration;

use anyhow::Context;
use retail_devices::counter_scale::{
    run_serial_scale, ScaleCommand, ScaleState, VirtualCounterScale,
};
use retail_domain::profiles::{CounterScaleProfile, DeviceCatalog};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::lane::ScaleInput;

/// What a `scale …` command asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleAction {
    /// Show the scale's state.
    Show,
    /// Send a command to the scale (zero, tare, clear tare).
    Send(ScaleCommand),
    /// Simulation only: a load in grams (negative: under zero) on the virtual scale.
    SimWeight(i64),
    /// Simulation only: the virtual scale's load moves.
    SimMoving,
    /// Simulation only: the virtual scale answers garbage.
    SimGarbage,
}

impl ScaleAction {
    /// Parses the words after `scale`.
    pub fn parse(words: &[&str]) -> Result<Self, String> {
        match words {
            [] => Ok(ScaleAction::Show),
            ["zero"] => Ok(ScaleAction::Send(ScaleCommand::Zero)),
            ["tare"] => Ok(ScaleAction::Send(ScaleCommand::Tare)),
            ["cleartare"] => Ok(ScaleAction::Send(ScaleCommand::ClearTare)),
            ["sim", "moving"] => Ok(ScaleAction::SimMoving),
            ["sim", "garbage"] => Ok(ScaleAction::SimGarbage),
            ["sim", grams] => grams
                .parse::<i64>()
                .map(ScaleAction::SimWeight)
                .map_err(|_| format!("scale sim: {grams:?} is not grams, moving or garbage")),
            _ => Err("scale [zero|tare|cleartare|sim GRAMS|sim moving|sim garbage]".into()),
        }
    }
}

/// The lane's counter scale: the watch task's state, its command line, the zero rule.
pub struct LaneScale {
    state: watch::Receiver<ScaleState>,
    commands: mpsc::Sender<ScaleCommand>,
    /// The scale returned to zero since the last weight was taken.
    armed: bool,
    zero_band: i64,
    /// The virtual scale of `--simulate` (when no port is configured).
    virtual_scale: Option<VirtualCounterScale>,
    /// Where the scale is reached.
    pub port: String,
}

impl LaneScale {
    /// Starts the scale's watch when the configuration names a scale profile; `None` when it
    /// does not. Call from within a Tokio runtime.
    ///
    /// # Errors
    /// An unknown profile, or no port without `--simulate`.
    pub fn start(
        config: &Config,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(id) = &config.scale_profile else {
            return Ok(None);
        };
        let catalog = DeviceCatalog::load_dir(&config.firmware_dir.join("profiles"))
            .map_err(|e| anyhow::anyhow!("device profiles: {e}"))?;
        let profile: CounterScaleProfile = catalog
            .counter_scales
            .get(id)
            .cloned()
            .with_context(|| format!("no counter scale profile {id:?}"))?;
        let mut virtual_scale = None;
        let port = match (&config.scale_port, config.simulate) {
            (Some(port), _) => port.clone(),
            (None, true) => {
                let scale = VirtualCounterScale::new(i64::from(profile.capacity_g));
                let path = scale
                    .spawn_pty()
                    .context("cannot create the virtual counter scale")?;
                virtual_scale = Some(scale);
                path
            }
            (None, false) => anyhow::bail!("scale_profile is set but scale_port is not"),
        };
        let (cmd_tx, cmd_rx) = mpsc::channel(8);
        let (state_tx, state_rx) = watch::channel(ScaleState::Unknown);
        tasks.spawn(run_serial_scale(
            port.clone(),
            profile.clone(),
            cmd_rx,
            state_tx,
        ));
        Ok(Some(Self {
            state: state_rx,
            commands: cmd_tx,
            armed: true,
            zero_band: i64::from(profile.zero_band_g),
            virtual_scale,
            port,
        }))
    }

    /// A receiver of the scale's state (for the task that tells the lane loop of changes).
    pub fn subscribe(&self) -> watch::Receiver<ScaleState> {
        self.state.clone()
    }

    /// The scale's state now.
    pub fn state(&self) -> ScaleState {
        self.state.borrow().clone()
    }

    /// Notes a state seen: an empty platter arms the scale for the next item.
    pub fn observe(&mut self, state: &ScaleState) {
        if matches!(state, ScaleState::Stable { grams, .. } if *grams <= self.zero_band) {
            self.armed = true;
        }
    }

    /// What the scale offers a weighed item scanned now.
    pub fn input(&mut self) -> ScaleInput {
        let state = self.state();
        self.observe(&state);
        match state {
            ScaleState::Stable { grams, .. } if grams <= self.zero_band => {
                ScaleInput::NotReady("put it on the scale and scan again".into())
            }
            ScaleState::Stable { .. } if !self.armed => ScaleInput::NotReady(
                "take the last item off the scale first: it must return to zero between items"
                    .into(),
            ),
            ScaleState::Stable { grams, .. } => ScaleInput::Ready(grams),
            ScaleState::Unknown => ScaleInput::NotReady("the scale has not answered yet".into()),
            ScaleState::Moving => {
                ScaleInput::NotReady("the scale is moving: scan again when it settles".into())
            }
            ScaleState::UnderZero => {
                ScaleInput::NotReady("the scale is under zero: empty it and zero it".into())
            }
            ScaleState::OverCapacity => ScaleInput::NotReady("the scale is over capacity".into()),
            ScaleState::Fault(why) => ScaleInput::NotReady(format!("the scale is faulty: {why}")),
            ScaleState::Disconnected(why) => {
                ScaleInput::NotReady(format!("the scale is not connected: {why}"))
            }
        }
    }

    /// The weight was taken for an item: the scale must return to zero before the next.
    pub fn taken(&mut self) {
        self.armed = false;
    }

    /// Carries out a `scale …` command; answers what to tell the cashier.
    pub async fn act(&mut self, action: ScaleAction) -> Result<String, String> {
        let sim = |s: &Option<VirtualCounterScale>| {
            s.clone()
                .ok_or_else(|| "scale sim: only with --simulate and no scale_port".to_owned())
        };
        match action {
            ScaleAction::Show => Ok(format!("scale {}", self.state().text())),
            ScaleAction::Send(cmd) => {
                self.commands
                    .send(cmd)
                    .await
                    .map_err(|_| "the scale task has stopped".to_owned())?;
                // Wait (briefly) for the scale's next answer so the cashier sees the result.
                let mut rx = self.state.clone();
                rx.borrow_and_update();
                let _ = tokio::time::timeout(Duration::from_millis(1_000), rx.changed()).await;
                let what = match cmd {
                    ScaleCommand::Zero => "zeroed",
                    ScaleCommand::Tare => "tared",
                    ScaleCommand::ClearTare => "tare cleared",
                    ScaleCommand::Weigh => "asked",
                };
                Ok(format!("scale {what}: {}", self.state().text()))
            }
            ScaleAction::SimWeight(grams) => {
                let scale = sim(&self.virtual_scale)?;
                scale.set_garbage(false);
                scale.set_weight(grams);
                Ok(format!("virtual scale loaded with {grams} g"))
            }
            ScaleAction::SimMoving => {
                sim(&self.virtual_scale)?.set_motion(true);
                Ok("virtual scale moving".into())
            }
            ScaleAction::SimGarbage => {
                sim(&self.virtual_scale)?.set_garbage(true);
                Ok("virtual scale answers garbage".into())
            }
        }
    }
}
