//! The interface every ESL vendor adapter implements, and the demo's virtual label wall.

use std::future::Future;
use std::pin::Pin;

use super::ShelfTag;

/// One batch of label updates for one store: the items (one per SKU, with the shelf price to
/// show) and the labels to link to their SKU's item (labels not linked yet).
#[derive(Clone, Debug, Default)]
pub struct LabelBatch {
    /// The shelf prices to show, one per SKU.
    pub items: Vec<ShelfTag>,
    /// (label barcode, item id = SKU code) pairs to link.
    pub links: Vec<(String, String)>,
}

/// Why a vendor did not take a batch.
#[derive(Debug, thiserror::Error)]
pub enum EslError {
    /// The vendor refused the credentials.
    #[error("the ESL vendor refused the credentials (HTTP {status}): {body}")]
    Unauthorized {
        /// HTTP status.
        status: u16,
        /// The answer's text.
        body: String,
    },
    /// The vendor rejected the batch.
    #[error("the ESL vendor rejected the batch (HTTP {status}): {body}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The answer's text.
        body: String,
    },
    /// The vendor could not be reached or answered something unreadable.
    #[error("the ESL vendor could not be reached: {0}")]
    Transport(String),
}

impl EslError {
    /// The HTTP status of the vendor's answer, if there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            EslError::Unauthorized { status, .. } | EslError::Rejected { status, .. } => {
                Some(*status)
            }
            EslError::Transport(_) => None,
        }
    }
}

/// What a push answers: the HTTP status of the last successful request (0 when nothing was
/// sent over HTTP).
pub type PushFuture<'a> = Pin<Box<dyn Future<Output = Result<u16, EslError>> + Send + 'a>>;

/// An ESL vendor: receives batches of label updates of one store.
pub trait EslVendor: Send + Sync {
    /// The adapter's name, recorded with every batch (`pricer`, `virtual`).
    fn name(&self) -> &'static str;

    /// Sends a batch of `store`'s label updates (store code as in the chain).
    fn push<'a>(&'a self, store: &'a str, batch: &'a LabelBatch) -> PushFuture<'a>;
}

/// The demo's virtual label wall (demo mode only): accepts every batch; the console's label
/// wall renders what each label was last given.
#[derive(Debug, Default)]
pub struct VirtualWall;

impl EslVendor for VirtualWall {
    fn name(&self) -> &'static str {
        "virtual"
    }

    fn push<'a>(&'a self, _store: &'a str, _batch: &'a LabelBatch) -> PushFuture<'a> {
        Box::pin(async { Ok(0) })
    }
}
