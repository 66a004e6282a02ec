//! Orders: channels, fulfilment kinds, statuses and the checked state machine (docs/DESIGN.md §4).
//!
//! ```text
//! pending_payment ─┬─► paid ─┬─► shipped ─► delivered ──────┐        (delivery)
//!                  │         ├─► ready_for_pickup ─► picked_up ┼─► after_sale ─► refunded
//!                  │         │        └─► cancelled (uncollected)           (pickup)
//!                  │         ├─► completed ────────────────────┘        (in_store)
//!                  │         └─► cancelled (staff, with refund)
//!                  └─► cancelled (shopper, staff, or payment timeout)
//! ```
//!
//! [`check_transition`] is the single authority on which moves are legal. Repeating a move into
//! the state an order is already in yields [`TransitionError::AlreadyIn`], so callers can treat
//! retries as idempotent successes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value that is not one of an enum's wire names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownValue {
    /// What was being parsed, e.g. "order status".
    pub kind: &'static str,
    /// The rejected text (truncated to 64 characters).
    pub value: String,
}

impl UnknownValue {
    fn new(kind: &'static str, value: &str) -> Self {
        UnknownValue {
            kind,
            value: value.chars().take(64).collect(),
        }
    }
}

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            Serialize, Deserialize, utoipa::ToSchema,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The wire (snake_case) name, as used in JSON and the database.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(UnknownValue::new($kind, s)),
                }
            }
        }
    };
}

wire_enum! {
    /// Where an order was placed.
    Channel, "channel" {
        /// The online shop.
        Online => "online",
        /// A staffed till in a store.
        Pos => "pos",
        /// Self-scanning on the shopper's phone in a store.
        ScanAndGo => "scan_and_go",
    }
}

wire_enum! {
    /// How the goods reach the shopper.
    Fulfilment, "fulfilment" {
        /// Shipped to an address.
        Delivery => "delivery",
        /// Collected from a store.
        Pickup => "pickup",
        /// Taken away at once (POS and scan-and-go).
        InStore => "in_store",
    }
}

wire_enum! {
    /// Order status.
    OrderStatus, "order status" {
        /// Created, waiting for payment (online orders reserve stock in this state).
        PendingPayment => "pending_payment",
        /// Paid, not yet fulfilled.
        Paid => "paid",
        /// Handed to the carrier (delivery).
        Shipped => "shipped",
        /// Received by the shopper (delivery).
        Delivered => "delivered",
        /// Waiting in the store for collection (pickup).
        ReadyForPickup => "ready_for_pickup",
        /// Collected by the shopper (pickup).
        PickedUp => "picked_up",
        /// Completed at the till or exit gate (in store).
        Completed => "completed",
        /// Cancelled (by shopper, by staff, payment timeout, or not collected). Terminal.
        Cancelled => "cancelled",
        /// A return / refund request is being handled.
        AfterSale => "after_sale",
        /// Refunded after an after-sale case. Terminal.
        Refunded => "refunded",
    }
}

impl OrderStatus {
    /// True for states no transition ever leaves: [`OrderStatus::Cancelled`] and
    /// [`OrderStatus::Refunded`]. (Delivered, picked-up and completed orders are fulfilled but
    /// can still enter [`OrderStatus::AfterSale`].)
    pub fn is_terminal(&self) -> bool {
        matches!(self, OrderStatus::Cancelled | OrderStatus::Refunded)
    }

    /// True once the goods are with the shopper: delivered, picked up or completed.
    pub fn is_fulfilled(&self) -> bool {
        matches!(
            self,
            OrderStatus::Delivered | OrderStatus::PickedUp | OrderStatus::Completed
        )
    }
}

/// A rejected status transition.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The order is already in the requested state; callers may treat a repeat as success.
    #[error("order is already {0}")]
    AlreadyIn(OrderStatus),
    /// The move is not allowed for this fulfilment kind.
    #[error("cannot move a {fulfilment} order from {from} to {to}")]
    NotAllowed {
        /// The order's fulfilment kind.
        fulfilment: Fulfilment,
        /// The current state.
        from: OrderStatus,
        /// The requested state.
        to: OrderStatus,
    },
}

/// The states an order of `fulfilment` may move to from `from`.
pub fn allowed_next(fulfilment: Fulfilment, from: OrderStatus) -> Vec<OrderStatus> {
    use Fulfilment as F;
    use OrderStatus as S;
    match (from, fulfilment) {
        (S::PendingPayment, _) => vec![S::Paid, S::Cancelled],
        (S::Paid, F::Delivery) => vec![S::Shipped, S::Cancelled],
        (S::Paid, F::Pickup) => vec![S::ReadyForPickup, S::Cancelled],
        (S::Paid, F::InStore) => vec![S::Completed, S::Cancelled],
        // A refund asked while the parcel is on its way (not received) puts it in after-sale.
        (S::Shipped, F::Delivery) => vec![S::Delivered, S::AfterSale],
        (S::Delivered, F::Delivery) => vec![S::AfterSale],
        (S::ReadyForPickup, F::Pickup) => vec![S::PickedUp, S::Cancelled],
        (S::PickedUp, F::Pickup) => vec![S::AfterSale],
        (S::Completed, F::InStore) => vec![S::AfterSale],
        (S::AfterSale, _) => vec![S::Refunded],
        _ => Vec::new(),
    }
}

/// Checks a status transition for an order of `fulfilment`.
///
/// `from == to` is [`TransitionError::AlreadyIn`] (even for states with no outgoing moves), so
/// a repeated request can be answered idempotently; any other move not in
/// [`allowed_next`] is [`TransitionError::NotAllowed`].
pub fn check_transition(
    fulfilment: Fulfilment,
    from: OrderStatus,
    to: OrderStatus,
) -> Result<(), TransitionError> {
    if from == to {
        return Err(TransitionError::AlreadyIn(to));
    }
    if allowed_next(fulfilment, from).contains(&to) {
        Ok(())
    } else {
        Err(TransitionError::NotAllowed {
            fulfilment,
            from,
            to,
        })
    }
}

/// The states an order of `fulfilment` can ever be in (all reachable from
/// [`OrderStatus::PendingPayment`]).
pub fn states_for(fulfilment: Fulfilment) -> &'static [OrderStatus] {
    use OrderStatus as S;
    match fulfilment {
        Fulfilment::Delivery => &[
            S::PendingPayment,
            S::Paid,
            S::Shipped,
            S::Delivered,
            S::Cancelled,
            S::AfterSale,
            S::Refunded,
        ],
        Fulfilment::Pickup => &[
            S::PendingPayment,
            S::Paid,
            S::ReadyForPickup,
            S::PickedUp,
            S::Cancelled,
            S::AfterSale,
            S::Refunded,
        ],
        Fulfilment::InStore => &[
            S::PendingPayment,
            S::Paid,
            S::Completed,
            S::Cancelled,
            S::AfterSale,
            S::Refunded,
        ],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use Fulfilment as F;
    use OrderStatus as S;

    #[test]
    fn wire_names_roundtrip() {
        for s in S::ALL {
            assert_eq!(s.as_str().parse::<S>().unwrap(), *s);
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), *c);
            assert_eq!(
                serde_json::to_string(c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        for f in F::ALL {
            assert_eq!(f.as_str().parse::<F>().unwrap(), *f);
            assert_eq!(
                serde_json::to_string(f).unwrap(),
                format!("\"{}\"", f.as_str())
            );
        }
        assert_eq!(S::ALL.len(), 10);
        assert_eq!(Channel::ScanAndGo.as_str(), "scan_and_go");
        assert_eq!(S::ReadyForPickup.to_string(), "ready_for_pickup");
        let e = "Paid".parse::<S>().unwrap_err();
        assert_eq!(e.to_string(), "unknown order status \"Paid\"");
        assert!("".parse::<Channel>().is_err());
    }

    #[test]
    fn happy_paths() {
        check_transition(F::Delivery, S::PendingPayment, S::Paid).unwrap();
        check_transition(F::Delivery, S::Paid, S::Shipped).unwrap();
        check_transition(F::Delivery, S::Shipped, S::Delivered).unwrap();
        check_transition(F::Pickup, S::Paid, S::ReadyForPickup).unwrap();
        check_transition(F::Pickup, S::ReadyForPickup, S::PickedUp).unwrap();
        check_transition(F::Pickup, S::ReadyForPickup, S::Cancelled).unwrap();
        check_transition(F::InStore, S::Paid, S::Completed).unwrap();
        check_transition(F::InStore, S::Completed, S::AfterSale).unwrap();
        check_transition(F::InStore, S::AfterSale, S::Refunded).unwrap();
        check_transition(F::Delivery, S::Paid, S::Cancelled).unwrap();
        check_transition(F::Pickup, S::PendingPayment, S::Cancelled).unwrap();
    }

    #[test]
    fn rejected_moves() {
        let e = check_transition(F::Delivery, S::Paid, S::ReadyForPickup).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot move a delivery order from paid to ready_for_pickup"
        );
        assert!(check_transition(F::Delivery, S::Delivered, S::Refunded).is_err());
        assert!(check_transition(F::Delivery, S::Shipped, S::Cancelled).is_err());
        assert!(check_transition(F::Pickup, S::AfterSale, S::PickedUp).is_err());
        assert!(check_transition(F::InStore, S::PendingPayment, S::Completed).is_err());
        assert_eq!(
            check_transition(F::Delivery, S::Paid, S::Paid),
            Err(TransitionError::AlreadyIn(S::Paid))
        );
        assert_eq!(
            check_transition(F::Pickup, S::Cancelled, S::Cancelled)
                .unwrap_err()
                .to_string(),
            "order is already cancelled"
        );
    }

    #[test]
    fn reachability_per_fulfilment() {
        for &f in F::ALL {
            let mut seen = BTreeSet::from([S::PendingPayment]);
            let mut frontier = vec![S::PendingPayment];
            while let Some(s) = frontier.pop() {
                for n in allowed_next(f, s) {
                    if seen.insert(n) {
                        frontier.push(n);
                    }
                }
            }
            let expected: BTreeSet<S> = states_for(f).iter().copied().collect();
            assert_eq!(seen, expected, "{f}");
        }
    }

    #[test]
    fn terminal_states() {
        for &f in F::ALL {
            for &s in S::ALL {
                if s.is_terminal() {
                    assert!(allowed_next(f, s).is_empty());
                }
                // Every non-terminal state on the fulfilment's path can move on.
                if !s.is_terminal() && states_for(f).contains(&s) {
                    assert!(!allowed_next(f, s).is_empty(), "{f} {s}");
                }
            }
        }
        assert!(S::Delivered.is_fulfilled());
        assert!(!S::Paid.is_fulfilled());
    }

    fn any_status() -> impl Strategy<Value = S> {
        proptest::sample::select(S::ALL)
    }

    fn any_fulfilment() -> impl Strategy<Value = F> {
        proptest::sample::select(F::ALL)
    }

    proptest! {
        #[test]
        fn check_matches_allowed_next(f in any_fulfilment(), from in any_status(), to in any_status()) {
            let allowed = allowed_next(f, from).contains(&to);
            let result = check_transition(f, from, to);
            if from == to {
                prop_assert_eq!(result, Err(TransitionError::AlreadyIn(to)));
                prop_assert!(!allowed);
            } else {
                prop_assert_eq!(result.is_ok(), allowed);
            }
            if from == S::Cancelled || from == S::Refunded {
                prop_assert!(check_transition(f, from, to).is_err());
            }
            // Fulfilled orders never jump straight to refunded.
            if from.is_fulfilled() && to == S::Refunded {
                prop_assert!(check_transition(f, from, to).is_err());
            }
        }
    }

    #[test]
    fn exhaustive_triples() {
        for &f in F::ALL {
            for &from in S::ALL {
                let next = allowed_next(f, from);
                for &to in S::ALL {
                    assert_eq!(
                        check_transition(f, from, to).is_ok(),
                        next.contains(&to),
                        "{f} {from} {to}"
                    );
                }
            }
        }
    }
}
