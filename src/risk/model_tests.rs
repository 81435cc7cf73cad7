//! The risk layer's copy of a position's maintenance under another exchange's rule: the
//! same figure as the venue's at every mark.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::config::RiskConfig;
use super::tests::sim_on;
use crate::exchange::Side;
use crate::exchange::account::MarginMode;
use crate::exchange::orders::{Order, OrderKind, Quantity};
use crate::instrument::Instruments;

#[test]
fn a_bybit_positions_maintenance_is_the_venues_at_every_mark() {
    let btc = Instruments::bybit_usdt().get("BTCUSDT").unwrap().clone();
    let mut s = sim_on(btc, RiskConfig::no_rules(), MarginMode::Isolated);
    let order = Order {
        symbol: 0,
        side: Side::Long,
        qty: Quantity::Base(Decimal::ONE),
        kind: OrderKind::Market,
        reduce_only: false,
        leverage: Decimal::from(50),
    };
    s.venue
        .submit(super::Approved::new(order, None, None), 20_000.0)
        .unwrap();
    s.flat(20_000.0, 1);
    // Bybit's example position: MM = 20,000 × 0.5 % = 100 on the entry, LP 19,700
    let held = s.risk.held[0].unwrap();
    assert_eq!((held.qty, held.liquidation), (1.0, 19_700.0));
    for mark in [20_000.0, 19_800.0, 21_000.0] {
        s.flat(mark, 1);
        let venue = s
            .venue
            .account
            .margin_ratio(&[Decimal::try_from(mark).unwrap()]);
        // ratio = 100 / (400 + mark − 20,000); the risk layer's maintenance stays 100
        let balance = 400.0 + mark - 20_000.0;
        let ratio = venue.unwrap().to_f64().unwrap();
        assert!((ratio - 100.0 / balance).abs() < 1e-12, "{mark}: {ratio}");
        assert_eq!(s.risk.maintenance(None), 100.0, "{mark}");
    }
}
