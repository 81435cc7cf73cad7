//! A closing fill beyond bankruptcy (the last price far past the mark the liquidation engine
//! watches): the loss past what backs the position is the insurance fund's, and the wallet
//! never goes below zero. Fees 0.05 % taker, BTCUSDT tier 1.

use rust_decimal::Decimal;

use super::Side;
use super::account::{Account, Cause, MarginMode};
use crate::instrument::Instruments;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn account(mode: MarginMode) -> Account {
    let btc = Instruments::binance_usdm().get("BTCUSDT").unwrap().clone();
    Account::new(d("10000"), mode, vec![btc])
}

#[test]
fn an_isolated_close_past_bankruptcy_loses_only_the_margin() {
    let mut a = account(MarginMode::Isolated);
    // long 1 at 20,000, 10x: margin 2,000, fee 10 → wallet 9,990
    let fee = d("0.0005");
    a.fill(0, 0, Side::Long, d("1"), d("20000"), fee, d("10"))
        .unwrap();
    assert_eq!(a.wallet(), d("9990"));
    // closed at 17,000: the loss of 3,000 passes the margin by 1,000, which the fund covers;
    // fee 8.5: 9,990 − 8.5 − 3,000 + 1,000 = 7,981.5 (margin 2,000 and fees 18.5 lost)
    let cover = a
        .fill(1, 0, Side::Short, d("1"), d("17000"), fee, d("10"))
        .unwrap();
    assert_eq!((cover, a.wallet()), (d("1000"), d("7981.5")));
    assert!(
        a.entries()
            .iter()
            .any(|e| e.cause == Cause::InsuranceCover && e.amount == d("1000"))
    );
    assert!(a.is_conserved());
    // a close within the margin takes no cover
    let mut b = account(MarginMode::Isolated);
    b.fill(0, 0, Side::Long, d("1"), d("20000"), fee, d("10"))
        .unwrap();
    assert_eq!(
        b.fill(1, 0, Side::Short, d("1"), d("19000"), fee, d("10"))
            .unwrap(),
        d("0")
    );
}

#[test]
fn a_cross_close_past_the_wallet_floors_it_at_zero() {
    let mut a = account(MarginMode::Cross);
    let fee = d("0.0005");
    a.fill(0, 0, Side::Long, d("1"), d("20000"), fee, d("10"))
        .unwrap();
    // closed at 9,000: fee 4.5, loss 11,000 against a wallet of 9,985.5 → cover 1,014.5
    let cover = a
        .fill(1, 0, Side::Short, d("1"), d("9000"), fee, d("10"))
        .unwrap();
    assert_eq!((cover, a.wallet()), (d("1014.5"), d("0")));
    assert!(a.is_conserved());
}
