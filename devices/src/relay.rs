//! The exit gate's relay board (docs/DESIGN.md §7–§8): the four commands a gate sends — open the gate
//! and close it again after the pulse, switch the alarm (light, buzzer) on for a refused or
//! audited pass and off again — as the bytes of the relay's profile
//! (`firmware-config/profiles/gates/`, `[commands]` and `[timing]`).
//!
//! Pure: the gate writes [`RelayCommand::bytes`] to its relay line (any `AsyncWrite`), and a
//! simulation or test reading that line names what it received with [`RelayCommand::recognise`]
//! / [`relay_name`].

use std::time::Duration;

use retail_domain::profiles::{GateCommands, GateTiming};

/// One relay command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelayCommand {
    /// Energise the gate relay: the gate opens.
    Open,
    /// Release the gate relay: the gate closes.
    Close,
    /// Switch the alarm light / buzzer on (deny or audit).
    AlarmOn,
    /// Switch the alarm light / buzzer off.
    AlarmOff,
}

impl RelayCommand {
    /// The four commands, in the order [`Self::recognise`] tries them.
    pub const ALL: [RelayCommand; 4] = [
        RelayCommand::Open,
        RelayCommand::Close,
        RelayCommand::AlarmOn,
        RelayCommand::AlarmOff,
    ];

    /// The bytes the profile gives this command.
    pub fn bytes(self, commands: &GateCommands) -> &[u8] {
        match self {
            RelayCommand::Open => &commands.open,
            RelayCommand::Close => &commands.close,
            RelayCommand::AlarmOn => &commands.alarm_on,
            RelayCommand::AlarmOff => &commands.alarm_off,
        }
    }

    /// Its name in logs and simulations: `OPEN`, `CLOSE`, `ALARM ON`, `ALARM OFF`.
    pub fn name(self) -> &'static str {
        match self {
            RelayCommand::Open => "OPEN",
            RelayCommand::Close => "CLOSE",
            RelayCommand::AlarmOn => "ALARM ON",
            RelayCommand::AlarmOff => "ALARM OFF",
        }
    }

    /// The command that ends this one (`Close` after `Open`, `AlarmOff` after `AlarmOn`) and how
    /// long the profile holds it before sending that; `None` for the releases themselves.
    pub fn release(self, timing: &GateTiming) -> Option<(Duration, RelayCommand)> {
        let ms = |ms: u32| Duration::from_millis(u64::from(ms));
        match self {
            RelayCommand::Open => Some((ms(timing.open_pulse_ms), RelayCommand::Close)),
            RelayCommand::AlarmOn => Some((ms(timing.alarm_ms), RelayCommand::AlarmOff)),
            RelayCommand::Close | RelayCommand::AlarmOff => None,
        }
    }

    /// The command whose bytes are exactly `bytes` (the first in [`Self::ALL`] order when a
    /// profile gives two commands the same bytes), if any.
    pub fn recognise(commands: &GateCommands, bytes: &[u8]) -> Option<RelayCommand> {
        Self::ALL.into_iter().find(|c| c.bytes(commands) == bytes)
    }
}

/// The name of the relay command `bytes` are ([`RelayCommand::name`]), `?` for anything else.
pub fn relay_name(commands: &GateCommands, bytes: &[u8]) -> &'static str {
    RelayCommand::recognise(commands, bytes).map_or("?", RelayCommand::name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use retail_domain::profiles::GateRelayProfile;

    use super::*;

    fn profile() -> GateRelayProfile {
        GateRelayProfile::from_toml_str(include_str!(
            "../../firmware-config/profiles/gates/lcus-2-usb-relay.toml"
        ))
        .unwrap()
    }

    #[test]
    fn commands_are_the_profile_bytes_and_named_back() {
        let p = profile();
        assert_eq!(
            RelayCommand::Open.bytes(&p.commands),
            [0xA0, 0x01, 0x01, 0xA2]
        );
        assert_eq!(
            RelayCommand::Close.bytes(&p.commands),
            [0xA0, 0x01, 0x00, 0xA1]
        );
        assert_eq!(
            RelayCommand::AlarmOn.bytes(&p.commands),
            [0xA0, 0x02, 0x01, 0xA3]
        );
        assert_eq!(
            RelayCommand::AlarmOff.bytes(&p.commands),
            [0xA0, 0x02, 0x00, 0xA2]
        );
        for command in RelayCommand::ALL {
            assert_eq!(
                RelayCommand::recognise(&p.commands, command.bytes(&p.commands)),
                Some(command)
            );
            assert_eq!(
                relay_name(&p.commands, command.bytes(&p.commands)),
                command.name()
            );
        }
        assert_eq!(relay_name(&p.commands, &[0xA0, 0x03, 0x01, 0xA4]), "?");
        assert_eq!(relay_name(&p.commands, &[]), "?");
    }

    #[test]
    fn open_and_alarm_are_released_after_their_time() {
        let p = profile();
        assert_eq!(
            RelayCommand::Open.release(&p.timing),
            Some((Duration::from_millis(1500), RelayCommand::Close))
        );
        assert_eq!(
            RelayCommand::AlarmOn.release(&p.timing),
            Some((Duration::from_millis(3000), RelayCommand::AlarmOff))
        );
        assert_eq!(RelayCommand::Close.release(&p.timing), None);
        assert_eq!(RelayCommand::AlarmOff.release(&p.timing), None);
    }
}
