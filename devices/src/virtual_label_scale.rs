//! A virtual label scale for demos and tests: it listens on TCP like a Dahua TM scale on port
//! 4001, speaks the PLU download of [`crate::label_scale`] (`!0IA` clears, `!0V` writes a
//! record, each answered `CR LF ETX`), keeps its PLU table, and prints labels: the EAN-13 a
//! real scale would print for an item and a weight or count ([`VirtualLabelScale::print_label`]).
//!
//! For tests it misbehaves on demand ([`Behaviour`]): garbage answers, silence, a connection
//! dropped in the middle of a download; and it can be switched off and on again
//! ([`VirtualLabelScale::power_off`], [`VirtualLabelScale::power_on`]), with its memory lost or
//! kept. A line it cannot read is answered `?` `ETX` (not an acknowledgement), and counted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use retail_domain::barcode::{
    ean13_from_body, price_check_digit, MeasureKind, VariableMeasureLayout,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::label_scale::{decode_command, PluMode, PluRecord, ScaleCommand, ACK};

/// How the scale answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// As a working scale.
    Normal,
    /// Every command is answered with bytes that are not an acknowledgement (nothing stored).
    Garbage,
    /// Commands are taken and never answered.
    Silent,
    /// The next `n` commands are taken and answered, then the connection is dropped (before
    /// the next command is stored); back to normal afterwards.
    DisconnectAfter(usize),
}

#[derive(Debug)]
struct State {
    table: BTreeMap<u16, PluRecord>,
    behaviour: Behaviour,
    commands: usize,
    clears: usize,
    unreadable: usize,
    tasks: Vec<JoinHandle<()>>,
}

/// A virtual label scale (see the module docs). Clones share the same scale.
#[derive(Clone, Debug)]
pub struct VirtualLabelScale {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
}

impl VirtualLabelScale {
    /// A working scale with an empty table, on `127.0.0.1` at a free port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().map_err(std::io::Error::other)?).await
    }

    /// A working scale with an empty table listening on `addr` (e.g. `0.0.0.0:4001` for a
    /// demo).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let scale = Self {
            state: Arc::new(Mutex::new(State {
                table: BTreeMap::new(),
                behaviour: Behaviour::Normal,
                commands: 0,
                clears: 0,
                unreadable: 0,
                tasks: Vec::new(),
            })),
            addr: listener.local_addr()?,
        };
        scale.listen(listener);
        Ok(scale)
    }

    fn listen(&self, listener: tokio::net::TcpListener) {
        let served = self.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let connection = tokio::spawn(served.clone().serve(stream));
                served.with(|s| {
                    s.tasks.retain(|t| !t.is_finished());
                    s.tasks.push(connection);
                });
            }
        });
        self.with(|s| s.tasks.push(task));
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut state)
    }

    /// Sets how it answers from the next command on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.with(|s| s.behaviour = behaviour);
    }

    /// Its PLU table, by key.
    pub fn table(&self) -> BTreeMap<u16, PluRecord> {
        self.with(|s| s.table.clone())
    }

    /// Commands taken (clears and records, answered or not).
    pub fn commands(&self) -> usize {
        self.with(|s| s.commands)
    }

    /// `!0IA` clears taken.
    pub fn clears(&self) -> usize {
        self.with(|s| s.clears)
    }

    /// Lines it could not read.
    pub fn unreadable(&self) -> usize {
        self.with(|s| s.unreadable)
    }

    /// Switches it off: the listener and every connection close; the table is kept in memory
    /// for [`Self::power_on`].
    pub fn power_off(&self) {
        let tasks = self.with(|s| std::mem::take(&mut s.tasks));
        for task in tasks {
            task.abort();
        }
    }

    /// Switches it on again on the same address, its table kept (`keep_table`) or lost (a
    /// replaced or reset scale); its [`Behaviour`] stays as set.
    ///
    /// # Errors
    /// When the address cannot be bound again.
    pub async fn power_on(&self, keep_table: bool) -> std::io::Result<()> {
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(err) if tries >= 50 => return Err(err),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        };
        self.with(|s| {
            if !keep_table {
                s.table.clear();
            }
        });
        self.listen(listener);
        Ok(())
    }

    /// Serves one connection until it closes.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(self, mut stream: S) {
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let Some(answer) = self.take(&line) else {
                    return;
                };
                if !answer.is_empty()
                    && (stream.write_all(&answer).await.is_err() || stream.flush().await.is_err())
                {
                    return;
                }
            }
            if pending.len() > 4096 {
                self.with(|s| s.unreadable += 1);
                pending.clear();
            }
        }
    }

    /// Applies one command line; the answer to send, or `None` to hang up.
    fn take(&self, line: &[u8]) -> Option<Vec<u8>> {
        self.with(|s| {
            match s.behaviour {
                Behaviour::DisconnectAfter(0) => {
                    s.behaviour = Behaviour::Normal;
                    return None;
                }
                Behaviour::DisconnectAfter(n) => s.behaviour = Behaviour::DisconnectAfter(n - 1),
                _ => {}
            }
            s.commands += 1;
            if s.behaviour == Behaviour::Garbage {
                return Some(b"\x15ERR\x03".to_vec());
            }
            let answer = match decode_command(line) {
                Ok(ScaleCommand::ClearAll) => {
                    s.clears += 1;
                    s.table.clear();
                    ACK.to_vec()
                }
                Ok(ScaleCommand::Plu(plu)) => {
                    s.table.insert(plu.key, plu);
                    ACK.to_vec()
                }
                Err(_) => {
                    s.unreadable += 1;
                    b"?\x03".to_vec()
                }
            };
            Some(if s.behaviour == Behaviour::Silent {
                Vec::new()
            } else {
                answer
            })
        })
    }

    /// The label it would print for PLU `key` and `qty` (grams for a weighed item, pieces for
    /// a counted one): the EAN-13 of `layout` (prefix = the record's barcode flag, then the
    /// item code's last `plu_digits` digits, the price in fen or the weight in grams, the
    /// check digit) and the price on the label.
    ///
    /// # Errors
    /// No such PLU, a flag that is not one of the layout's prefixes, or a value too long.
    pub fn print_label(
        &self,
        key: u16,
        qty: u32,
        layout: &VariableMeasureLayout,
    ) -> Result<(String, i64), String> {
        let plu = self
            .with(|s| s.table.get(&key).cloned())
            .ok_or_else(|| format!("no PLU {key} on the scale"))?;
        let flag = format!("{:02}", plu.barcode_flag);
        if !layout.prefixes.contains(&flag) {
            return Err(format!("barcode flag {flag} is not a prefix of the layout"));
        }
        let price_fen = match plu.mode {
            // Rounded to the fen, half up, as the lanes price a weighed line.
            PluMode::Weighed => (i64::from(plu.unit_price_fen) * i64::from(qty) + 500) / 1000,
            PluMode::Counted => i64::from(plu.unit_price_fen) * i64::from(qty),
        };
        let value = match layout.value {
            MeasureKind::Price => price_fen * 10i64.pow(layout.decimals) / 100,
            MeasureKind::Weight => i64::from(qty) * 10i64.pow(layout.decimals) / 1000,
        };
        let item = format!("{:07}", plu.item_code);
        let item = &item[item.len().saturating_sub(layout.plu_digits)..];
        let value = format!("{value:0width$}", width = layout.value_digits);
        if value.len() > layout.value_digits || item.len() != layout.plu_digits {
            return Err(format!("value {value} does not fit the layout"));
        }
        let check = if layout.value_check_digit {
            let digits: Vec<u8> = value.bytes().map(|b| b - b'0').collect();
            price_check_digit(&digits)
                .map(|d| d.to_string())
                .ok_or("no price check digit for this value length")?
        } else {
            String::new()
        };
        let code =
            ean13_from_body(&format!("{flag}{item}{check}{value}")).map_err(|e| e.to_string())?;
        Ok((code, price_fen))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::label_scale::{LabelScaleClient, ScaleError};
    use retail_domain::barcode::{classify_product_code, Measure, ScannedCode};
    use retail_domain::money::Money;

    fn plu(key: u16, price: u32, mode: PluMode) -> PluRecord {
        PluRecord {
            key,
            item_code: 10_000 + u32::from(key),
            unit_price_fen: price,
            mode,
            shelf_life_days: 3,
            barcode_flag: 20,
            tare_g: 0,
            label_no: 0,
            name: "苹果".into(),
        }
    }

    #[tokio::test]
    async fn keeps_its_table_prints_labels_and_misbehaves_on_demand() {
        let scale = VirtualLabelScale::start().await.unwrap();
        let addr = scale.addr().to_string();
        let mut client = LabelScaleClient::connect(&addr, Duration::from_millis(500))
            .await
            .unwrap();
        client
            .download_all(&[
                plu(1, 1280, PluMode::Weighed),
                plu(2, 350, PluMode::Counted),
            ])
            .await
            .unwrap();
        assert_eq!(scale.table().len(), 2);
        assert_eq!(scale.clears(), 1);
        // 1.234 kg at ¥12.80 = ¥15.80 (15.7952 rounded); 3 pieces at ¥3.50 = ¥10.50.
        let layout = VariableMeasureLayout::cn_default();
        let (label, fen) = scale.print_label(1, 1234, &layout).unwrap();
        assert_eq!(fen, 1580);
        match classify_product_code(&label, std::slice::from_ref(&layout)).unwrap() {
            ScannedCode::VariableMeasure { plu, measure, .. } => {
                assert_eq!(plu, "10001");
                assert_eq!(measure, Measure::Price(Money::from_fen(1580)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(scale.print_label(2, 3, &layout).unwrap().1, 1050);
        assert!(scale.print_label(9, 3, &layout).is_err());

        scale.set_behaviour(Behaviour::Garbage);
        assert!(matches!(
            client.clear_all().await,
            Err(ScaleError::Garbage(_))
        ));
        assert_eq!(scale.table().len(), 2, "garbage: nothing done");
        scale.set_behaviour(Behaviour::DisconnectAfter(1));
        client
            .write_plu(&plu(3, 100, PluMode::Counted))
            .await
            .unwrap();
        assert!(matches!(
            client.write_plu(&plu(4, 100, PluMode::Counted)).await,
            Err(ScaleError::Disconnected)
        ));
        assert_eq!(scale.table().keys().copied().collect::<Vec<_>>(), [1, 2, 3]);

        scale.power_off();
        assert!(LabelScaleClient::connect(&addr, Duration::from_millis(300))
            .await
            .is_err());
        scale.power_on(false).await.unwrap();
        assert!(scale.table().is_empty());
        let mut client = LabelScaleClient::connect(&addr, Duration::from_millis(500))
            .await
            .unwrap();
        client
            .write_plu(&plu(5, 100, PluMode::Counted))
            .await
            .unwrap();
        assert_eq!(scale.table().len(), 1);
    }
}
