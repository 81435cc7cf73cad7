//! Where in a bar each funding settlement is booked.
//!
//! A position open at a settlement's time pays (or receives) it, at that settlement's own
//! mark (`exchange::funding`), whatever the bar length:
//! - **At the bar's open** (a settlement stamped with the open time): after the bar's
//!   market orders fill. A position filled at the funding time pays that settlement, as on
//!   Binance and in freqtrade; one closed at that open does not.
//! - **Inside the bar, walked from finer bars** ([`Venue::on_bar_detailed`]): at the open of
//!   the fine bar holding it, before that bar's path. The fine bars tell the order exactly.
//! - **Inside the bar, from the bar alone**, whose OHLC cannot tell whether an exit inside
//!   it came before or after the settlement. The side that costs the trader is taken:
//!   - a settlement the position held after the open would *pay* is booked before the path
//!     (at its own mark), so it is paid even when the path closes the position, and in
//!     isolated margin it moves the liquidation price the path is checked against;
//!   - one it would *receive* is booked after the path, and only when the same position is
//!     still open at the close (an exit inside the bar forfeits it);
//!   - a position opened inside the bar and still open at its close pays the bar's inside
//!     settlements that cost it and receives none.
//!
//! A zero rate counts as paying (the payment is 0 either way; the settlement is recorded).

use super::view::ShadowPosition;
use super::{Event, EventKind, Venue, dec};
use crate::market::Settlement;

/// Whether `position` pays (or pays nothing at) `s` rather than receiving it.
fn pays(position: &ShadowPosition, s: &Settlement) -> bool {
    position.sign * s.rate >= 0.0
}

/// Whether two views are of the same position (funding may have moved its margin).
fn same_position(a: &ShadowPosition, b: &ShadowPosition) -> bool {
    a.sign == b.sign && a.qty.to_bits() == b.qty.to_bits() && a.entry.to_bits() == b.entry.to_bits()
}

impl Venue {
    /// Books one settlement for `symbol`'s open position, if any.
    pub(super) fn settle_funding(&mut self, symbol: usize, s: &Settlement) {
        if self.shadow.positions[symbol].is_none() {
            return;
        }
        self.sync_marks();
        let paid = self
            .account
            .settle_funding(s.time, symbol, dec(s.mark), dec(s.rate));
        self.resync();
        let (rate, mark) = (s.rate, s.mark);
        self.events.push(Event {
            time: s.time,
            symbol,
            kind: EventKind::Funding { rate, mark, paid },
        });
    }

    /// The settlements of a bar that opens at `time`, before its path: those at the open,
    /// and those inside it that the position held now pays. Returns the ones inside the bar.
    pub(super) fn settle_before_path<'a>(
        &mut self,
        symbol: usize,
        time: i64,
        funding: &'a [Settlement],
    ) -> &'a [Settlement] {
        let split = funding.partition_point(|s| s.time <= time);
        let (at_open, inside) = funding.split_at(split);
        for s in at_open {
            self.settle_funding(symbol, s);
        }
        for s in inside {
            if let Some(p) = self.shadow.positions[symbol]
                && pays(&p, s)
            {
                self.settle_funding(symbol, s);
            }
        }
        inside
    }

    /// The settlements inside the bar after its path: receipts of the position `held` before
    /// the path when it is still open, or the payments of a position opened in the path.
    pub(super) fn settle_after_path(
        &mut self,
        symbol: usize,
        held: Option<ShadowPosition>,
        inside: &[Settlement],
    ) {
        let Some(now) = self.shadow.positions[symbol] else {
            return;
        };
        let kept = held.is_some_and(|h| same_position(&h, &now));
        for s in inside {
            if pays(&now, s) != kept {
                self.settle_funding(symbol, s);
            }
        }
    }
}

#[cfg(test)]
#[path = "funding_tests.rs"]
mod tests;
