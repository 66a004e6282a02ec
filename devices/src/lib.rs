//! `retail-devices`: the device I/O shared by the checkout lanes (`pos-terminal`) and the
//! store's edge agent (`edge-agent`), docs/DESIGN.md §7–§8. Every device is driven from its profile in
//! `firmware-config/` (loaded by `retail_domain::profiles`).
//!
//! Encodings are pure functions and codecs, the I/O is generic over `AsyncRead`/`AsyncWrite`
//! (a serial port, a pseudo-terminal, a TCP stream or a test pipe all work the same):
//!
//! * [`scanner`] — the barcode scanner line protocol: [`scanner::ScanFrameCodec`] (frames, AIM
//!   symbology identifiers, garbage reported, never stuck) and what a frame's text is;
//! * [`scanner_line`] — a scanner on its serial port (reopened after an unplug) or any stream;
//! * [`receipt`] — the pure ESC/POS encoder of receipts, pick slips and report slips, and its
//!   decoder back to text for tests and demos;
//! * [`printer_status`] — the pure codec of a printer's real-time status (`DLE EOT n`);
//! * [`printer`] — printer sinks (file / USB line printer, TCP 9100, serial) and the receipt
//!   printer that asks that status before and after a print;
//! * [`counter_scale`] — the lane's counter scale: the Mettler Toledo 8217 codec, a scale over
//!   any stream, the lane's weight watch, and a virtual scale;
//! * [`serial`] — serial ports as async byte streams;
//! * [`display`] — customer and gate displays (VFD): the pure screen encoding, and a lane's
//!   display on its line;
//! * [`relay`] — the exit gate's relay commands;
//! * [`label_scale`] — label scales at the fresh counter: the Dahua (大华) TM PLU download over
//!   TCP (pure record codec, async client), and the scale models' profiles;
//!   [`virtual_label_scale`] speaks it for tests and demos;
//! * [`pty`], [`virtual_scanner`], [`virtual_printer`] — virtual devices for demos and tests:
//!   raw pseudo-terminals, a pty-backed scanner, and an ESC/POS printer that answers its status;
//! * [`server_link`] — the device's own link to the server: its `http(s)://` and `mqtt(s)://`
//!   addresses and whom it trusts for TLS (the chain's CA pinned from `ca_file`).

#![forbid(unsafe_code)]

pub mod counter_scale;
pub mod display;
pub mod label_scale;
pub mod printer;
pub mod printer_status;
pub mod pty;
pub mod receipt;
pub mod relay;
pub mod scanner;
pub mod scanner_line;
pub mod serial;
pub mod server_link;
pub mod virtual_label_scale;
pub mod virtual_printer;
pub mod virtual_scanner;
