//! Raw pseudo-terminals for virtual serial devices (demos, simulations, tests, benches): the
//! program under test opens the slave path as it would open `/dev/ttyUSB0`, and the other side
//! (a person, a test) writes scans to or reads relay and display bytes from the master.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::sys::termios::{self, SetArg};

/// A pseudo-terminal could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("opening a pseudo-terminal")]
pub struct PtyError(#[from] nix::Error);

/// A pseudo-terminal in raw mode (no echo, no line editing, bytes as they are): (master, slave,
/// slave path).
pub fn raw_pty() -> Result<(OwnedFd, OwnedFd, PathBuf), PtyError> {
    let pair = nix::pty::openpty(None, None)?;
    let mut settings = termios::tcgetattr(&pair.slave)?;
    termios::cfmakeraw(&mut settings);
    termios::tcsetattr(&pair.slave, SetArg::TCSANOW, &settings)?;
    let path = nix::unistd::ttyname(&pair.slave)?;
    Ok((pair.master, pair.slave, path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn bytes_pass_through_unchanged() {
        let (master, slave, path) = raw_pty().unwrap();
        assert!(path.starts_with("/dev/pts"), "{}", path.display());
        let mut master = std::fs::File::from(master);
        let mut slave = std::fs::File::from(slave);
        // CR stays CR and nothing is echoed back (raw mode).
        master.write_all(b"EX1.abc\r\x10\x04\x01").unwrap();
        let mut got = [0u8; 11];
        slave.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"EX1.abc\r\x10\x04\x01");
    }
}
