//! `perpsim calc liq|size|kelly`: risk calculators, each with `--json` for scripts.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::json;

use super::Failure;
use crate::exchange::Side;
use crate::exchange::margin::{self, PositionInput};
use crate::instrument::{Instruments, LiquidationModel, Tier};
use crate::risk::sizing;
use rust_decimal::prelude::FromPrimitive;

#[derive(Subcommand, Debug)]
pub enum CalcCommand {
    /// Liquidation and bankruptcy price of a position (isolated or cross margin)
    Liq(LiqArgs),
    /// Position size that risks a fraction of equity between entry and stop, with its margin,
    /// liquidation price and whether the stop fires before liquidation
    Size(SizeArgs),
    /// Kelly fraction from win rate and average win and loss, full and scaled
    Kelly(KellyArgs),
}

#[derive(Args, Debug)]
pub struct KellyArgs {
    /// Fraction of trades that win, e.g. 0.55
    #[arg(long)]
    pub win_rate: f64,
    /// Average winning trade, e.g. 0.02 (2 %); any unit, the same as --avg-loss
    #[arg(long)]
    pub avg_win: f64,
    /// Average losing trade, as a positive number, e.g. 0.015
    #[arg(long)]
    pub avg_loss: f64,
    /// Scale of the full Kelly fraction to stake: 0.5 is half Kelly
    #[arg(long, default_value_t = 0.5)]
    pub fraction: f64,
    /// Print a JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SizeArgs {
    /// Account equity, USDT
    #[arg(long)]
    pub equity: f64,
    /// Entry price, USDT
    #[arg(long)]
    pub entry: f64,
    /// Stop price, USDT: below the entry for a long, above for a short
    #[arg(long)]
    pub stop: f64,
    /// Fraction of equity to lose if the stop is hit, e.g. 0.01
    #[arg(long)]
    pub risk: f64,
    /// Leverage of the position (isolated, initial margin only)
    #[arg(long, default_value = "1")]
    pub leverage: Decimal,
    #[command(flatten)]
    pub instrument: InstrumentArgs,
    /// Print a JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

/// Which instrument's rules a calculator uses.
#[derive(Args, Debug)]
pub struct InstrumentArgs {
    /// Symbol whose lot step and brackets to use, from the instrument file (default BTCUSDT)
    #[arg(long)]
    pub symbol: Option<String>,
    /// Instrument file (default: the shipped instruments/binance_usdm.toml)
    #[arg(long, conflicts_with = "venue")]
    pub instruments: Option<PathBuf>,
    /// A shipped venue's instrument file: binance (USDⓈ-M) or bybit (USDT perpetuals)
    #[arg(long)]
    pub venue: Option<String>,
}

impl InstrumentArgs {
    /// The instrument file and the symbol to take from it.
    fn load(&self) -> Result<(Instruments, String), Failure> {
        let instruments = match (&self.instruments, &self.venue) {
            (Some(path), _) => Instruments::load(path).map_err(Failure::Work)?,
            (None, Some(venue)) => {
                Instruments::shipped(venue).map_err(|e| usage(format!("--venue {e}")))?
            }
            (None, None) => Instruments::binance_usdm(),
        };
        Ok((
            instruments,
            self.symbol.clone().unwrap_or_else(|| "BTCUSDT".into()),
        ))
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarginMode {
    Isolated,
    Cross,
}

#[derive(Args, Debug)]
pub struct LiqArgs {
    /// long or short
    #[arg(long)]
    pub side: String,
    /// Entry price, USDT
    #[arg(long)]
    pub entry: Decimal,
    /// Position size, base asset (e.g. BTC)
    #[arg(long)]
    pub qty: Decimal,
    /// Isolated with initial margin only: wallet = entry × qty / leverage
    #[arg(long, conflicts_with = "wallet")]
    pub leverage: Option<Decimal>,
    /// Wallet balance, USDT: the position's isolated margin, or the cross wallet
    #[arg(long)]
    pub wallet: Option<Decimal>,
    /// With --wallet: isolated (default) or cross
    #[arg(long, value_enum, default_value = "isolated")]
    pub margin_mode: MarginMode,
    #[command(flatten)]
    pub instrument: InstrumentArgs,
    /// Maintenance margin rate instead of the symbol's brackets (fraction, 0.004 = 0.4 %)
    #[arg(long)]
    pub mmr: Option<Decimal>,
    /// Maintenance amount with --mmr, USDT
    #[arg(long, default_value = "0", requires = "mmr")]
    pub maint_amount: Decimal,
    /// Use the bracket table in force on this date (UTC, 2021-06-01) instead of the current one
    #[arg(long, conflicts_with = "mmr")]
    pub date: Option<String>,
    /// Another cross-margin position: SYMBOL:SIDE:QTY:ENTRY:MARK[:MMR:MAINT_AMOUNT]; repeatable
    #[arg(
        long = "other",
        value_name = "SYMBOL:SIDE:QTY:ENTRY:MARK[:MMR:MAINT_AMOUNT]"
    )]
    pub others: Vec<String>,
    /// Print a JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: CalcCommand) -> Result<(), Failure> {
    match command {
        CalcCommand::Liq(args) => liq(args),
        CalcCommand::Size(args) => size(args),
        CalcCommand::Kelly(args) => kelly(args),
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

/// A one-tier table from a rate and amount given on the command line.
fn flat_tiers(rate: Decimal, amount: Decimal) -> Vec<Tier> {
    vec![Tier {
        floor: Decimal::ZERO,
        cap: Decimal::MAX,
        max_leverage: u32::MAX,
        maint_margin_rate: rate,
        maint_amount: amount,
    }]
}

/// What a liquidation model's maintenance is, in a line.
fn model_note(model: LiquidationModel) -> &'static str {
    match model {
        LiquidationModel::Binance => "binance: notional at the mark × rate − amount",
        LiquidationModel::Bybit => "bybit: position value at the entry × rate − deduction",
        LiquidationModel::Okx | LiquidationModel::Gate => {
            "fee-inclusive: notional at the mark × (rate + taker fee), the rate shown includes the fee"
        }
    }
}

/// Maintenance margin and unrealised PnL of one `--other` position.
fn other_position(text: &str, instruments: &Instruments) -> Result<(Decimal, Decimal), Failure> {
    let bad = || {
        usage(format!(
            "--other '{text}' is not SYMBOL:SIDE:QTY:ENTRY:MARK[:MMR:MAINT_AMOUNT]"
        ))
    };
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 5 && parts.len() != 7 {
        return Err(bad());
    }
    let side = Side::parse(parts[1]).ok_or_else(bad)?;
    let num = |s: &str| s.parse::<Decimal>().map_err(|_| bad());
    let (qty, entry, mark) = (num(parts[2])?, num(parts[3])?, num(parts[4])?);
    let (tiers, model) = if parts.len() == 7 {
        (
            flat_tiers(num(parts[5])?, num(parts[6])?),
            LiquidationModel::Binance,
        )
    } else {
        let spec = instruments.get(parts[0]).map_err(Failure::Work)?;
        (spec.brackets.clone(), spec.liquidation_model)
    };
    Ok((
        margin::maintenance_margin_under(model, &tiers, qty, entry, mark),
        margin::unrealized_pnl(side, qty, entry, mark),
    ))
}

fn liq(args: LiqArgs) -> Result<(), Failure> {
    let side = Side::parse(&args.side)
        .ok_or_else(|| usage(format!("--side '{}': expected long or short", args.side)))?;
    if args.qty <= Decimal::ZERO || args.entry <= Decimal::ZERO {
        return Err(usage("--qty and --entry must be > 0"));
    }
    let (instruments, symbol) = args.instrument.load()?;
    let dated = match &args.date {
        None => None,
        Some(text) => {
            let time = crate::data::time::parse_text_time(text).ok_or_else(|| {
                usage(format!(
                    "--date '{text}': expected a date such as 2021-06-01"
                ))
            })?;
            let spec = instruments.get(&symbol).map_err(Failure::Work)?;
            Some(spec.at(time))
        }
    };
    let (tiers, tier_source, model) = match (args.mmr, &dated) {
        (Some(rate), _) => (
            flat_tiers(rate, args.maint_amount),
            "--mmr".to_string(),
            LiquidationModel::Binance,
        ),
        (None, Some((spec, date))) => (
            spec.brackets.clone(),
            format!("{}, table of {date}", instruments.describe(&symbol)),
            spec.liquidation_model,
        ),
        (None, None) => {
            let spec = instruments.get(&symbol).map_err(Failure::Work)?;
            (
                spec.brackets.clone(),
                instruments.describe(&symbol),
                spec.liquidation_model,
            )
        }
    };
    let notional = margin::notional(args.qty, args.entry);
    let (wallet, mode, margin_note) = match (args.leverage, args.wallet) {
        (Some(leverage), None) => {
            if leverage <= Decimal::ZERO {
                return Err(usage("--leverage must be > 0"));
            }
            if args.mmr.is_none() {
                let current = instruments.get(&symbol).map_err(Failure::Work)?;
                let spec = dated.as_ref().map_or(current, |d| &d.0);
                spec.check_leverage(notional, leverage)
                    .map_err(Failure::Work)?;
            }
            let wallet = margin::initial_margin(args.qty, args.entry, leverage);
            (
                wallet,
                MarginMode::Isolated,
                format!("isolated, initial margin at {leverage}x"),
            )
        }
        (None, Some(wallet)) => (
            wallet,
            args.margin_mode,
            format!("{:?} wallet", args.margin_mode).to_lowercase(),
        ),
        _ => {
            return Err(usage(
                "give either --leverage L (isolated, initial margin only) or --wallet WB",
            ));
        }
    };
    if mode == MarginMode::Isolated && !args.others.is_empty() {
        return Err(usage(
            "--other positions count only in cross margin (--margin-mode cross)",
        ));
    }
    let (mut other_maint, mut other_upnl) = (Decimal::ZERO, Decimal::ZERO);
    for text in &args.others {
        let (m, u) = other_position(text, &instruments)?;
        other_maint += m;
        other_upnl += u;
    }
    let input = PositionInput {
        side,
        qty: args.qty,
        entry: args.entry,
        wallet,
        other_maint,
        other_upnl,
    };
    let liq = margin::liquidation_price_under(model, &input, &tiers);
    let bankruptcy = margin::bankruptcy_price(&input);
    let tier = &tiers[liq.tier];
    let distance = liq
        .price
        .map(|p| (p - args.entry) / args.entry * Decimal::ONE_HUNDRED);
    let f = |d: Decimal| d.round_dp(8).to_f64();
    if args.json {
        let out = json!({
            "side": side.name(),
            "entry": f(args.entry),
            "qty": f(args.qty),
            "margin_mode": format!("{mode:?}").to_lowercase(),
            "wallet": f(wallet),
            "other_maint_margin": f(other_maint),
            "other_unrealized_pnl": f(other_upnl),
            "liquidation_price": liq.price.and_then(f),
            "bankruptcy_price": bankruptcy.and_then(f),
            "distance_pct": distance.and_then(f),
            "tier": liq.tier + 1,
            "maint_margin_rate": f(liq.maint_margin_rate),
            "maint_amount": f(liq.maint_amount),
            "brackets": tier_source,
            "liquidation_model": model.name(),
        });
        outln!("{out}");
        return Ok(());
    }
    match (liq.price, distance) {
        (Some(p), Some(dist)) => {
            let dir = if dist < Decimal::ZERO {
                "below"
            } else {
                "above"
            };
            outln!(
                "liquidation price  {} USDT ({}% {dir} entry)",
                p.round_dp(2),
                dist.abs().round_dp(2)
            );
        }
        _ => outln!("liquidation price  none: the margin covers a fall to 0"),
    }
    match bankruptcy {
        Some(b) => outln!("bankruptcy price   {} USDT", b.round_dp(2)),
        None => outln!("bankruptcy price   none"),
    }
    let cap = if tier.cap == Decimal::MAX {
        "∞".to_string()
    } else {
        tier.cap.to_string()
    };
    outln!(
        "tier               {} ({}; notional {} to {} USDT): maintenance rate {}%, amount {} USDT",
        liq.tier + 1,
        tier_source,
        tier.floor,
        cap,
        (tier.maint_margin_rate * Decimal::ONE_HUNDRED).normalize(),
        tier.maint_amount
    );
    outln!("model              {}", model_note(model));
    outln!(
        "margin             {} USDT ({margin_note})",
        wallet.round_dp(2)
    );
    if !args.others.is_empty() {
        outln!(
            "other positions    maintenance {} USDT, unrealised PnL {} USDT",
            other_maint.round_dp(2),
            other_upnl.round_dp(2)
        );
    }
    Ok(())
}

fn kelly(args: KellyArgs) -> Result<(), Failure> {
    let KellyArgs {
        win_rate,
        avg_win,
        avg_loss,
        fraction,
        json,
    } = args;
    if !(win_rate > 0.0 && win_rate < 1.0) {
        return Err(usage(format!(
            "--win-rate {win_rate} must be between 0 and 1"
        )));
    }
    if !(avg_win > 0.0 && avg_loss > 0.0 && avg_win.is_finite() && avg_loss.is_finite()) {
        return Err(usage(
            "--avg-win and --avg-loss must be > 0 (give the loss as a positive number)",
        ));
    }
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(usage(format!(
            "--fraction {fraction} must be in (0, 1]: 0.5 is half Kelly"
        )));
    }
    let full = sizing::kelly_fraction(win_rate, avg_win, avg_loss);
    let scaled = (full * fraction).max(0.0);
    if json {
        outln!(
            "{}",
            json!({ "full_kelly": full, "fraction": fraction, "scaled_kelly": scaled, "edge": full > 0.0 })
        );
        return Ok(());
    }
    let pct = |x: f64| {
        format!("{:.4}", x * 100.0)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    };
    outln!(
        "payoff ratio       {:.4} (average win / average loss)",
        avg_win / avg_loss
    );
    outln!("full Kelly         {} % of equity", pct(full));
    if full > 0.0 {
        outln!(
            "{:<19}{} % of equity",
            format!("scaled ({fraction}×)"),
            pct(scaled)
        );
    } else {
        outln!("no edge            stake nothing: the record loses in expectation");
    }
    Ok(())
}

fn size(args: SizeArgs) -> Result<(), Failure> {
    let SizeArgs {
        equity,
        entry,
        stop,
        risk,
        leverage,
        ..
    } = args;
    for (name, value) in [("--equity", equity), ("--entry", entry), ("--stop", stop)] {
        if !(value > 0.0 && value.is_finite()) {
            return Err(usage(format!("{name} must be > 0")));
        }
    }
    if !(risk > 0.0 && risk < 1.0) {
        return Err(usage(format!(
            "--risk {risk} must be a fraction in (0, 1), e.g. 0.01"
        )));
    }
    if stop == entry {
        return Err(usage(
            "--stop equals --entry: the risk per unit would be zero",
        ));
    }
    if leverage <= Decimal::ZERO {
        return Err(usage("--leverage must be > 0"));
    }
    let (instruments, symbol) = args.instrument.load()?;
    let spec = instruments.get(&symbol).map_err(Failure::Work)?;
    let side = if stop < entry {
        Side::Long
    } else {
        Side::Short
    };
    let raw = sizing::risk_per_trade_qty(equity, entry, stop, risk);
    let dec = |x: f64| Decimal::from_f64(x).unwrap_or(Decimal::ZERO);
    // the exchange rounds down to the lot step: never more risk than asked
    let qty = ((dec(raw) / spec.lot_size).floor() * spec.lot_size).normalize();
    if qty.is_zero() {
        return Err(Failure::Work(format!(
            "{raw:.8} {symbol} rounds to 0 at the lot step {}: raise --risk or --equity",
            spec.lot_size
        )));
    }
    let notional = qty * dec(entry);
    spec.check_leverage(notional, leverage)
        .map_err(Failure::Work)?;
    let margin = notional / leverage;
    let loss = qty * dec((entry - stop).abs());
    let input = PositionInput {
        side,
        qty,
        entry: dec(entry),
        wallet: margin,
        other_maint: Decimal::ZERO,
        other_upnl: Decimal::ZERO,
    };
    let liq = margin::liquidation_price_under(spec.liquidation_model, &input, &spec.brackets).price;
    let before = match (liq, side) {
        (None, _) => true,
        (Some(lp), Side::Long) => dec(stop) > lp,
        (Some(lp), Side::Short) => dec(stop) < lp,
    };
    let needs = (notional / dec(equity)).ceil().max(Decimal::ONE);
    let f = |d: Decimal| d.round_dp(8).to_f64();
    let source = instruments.describe(&symbol);
    if args.json {
        outln!(
            "{}",
            json!({
                "side": side.name(), "qty": f(qty), "qty_unrounded": raw, "notional": f(notional), "leverage": f(leverage),
                "margin": f(margin), "loss_at_stop": f(loss), "liquidation_price": liq.and_then(f),
                "stop_before_liquidation": before, "margin_exceeds_equity": margin > dec(equity),
                "instrument": source,
            })
        );
        return Ok(());
    }
    outln!("instrument         {source}");
    outln!(
        "side               {} (stop {} the entry)",
        side.name(),
        if side == Side::Long { "below" } else { "above" }
    );
    outln!(
        "quantity           {qty} {symbol} ({raw:.6} before rounding down to the lot step {})",
        spec.lot_size
    );
    outln!("notional           {} USDT", notional.round_dp(2));
    outln!(
        "margin             {} USDT at {leverage}x",
        margin.round_dp(2)
    );
    if margin > dec(equity) {
        outln!("                   more than the equity: use at least {needs}x");
    }
    outln!(
        "loss at stop       {} USDT ({} % of equity), before fees",
        loss.round_dp(2),
        (loss / dec(equity) * Decimal::ONE_HUNDRED).round_dp(3)
    );
    match liq {
        Some(lp) => outln!("liquidation price  {} USDT", lp.round_dp(2)),
        None => outln!("liquidation price  none: the margin covers a fall to 0"),
    }
    if before {
        outln!("stop               {stop} fires before liquidation");
    } else {
        outln!(
            "stop               {stop} comes AFTER liquidation: the position is liquidated first; lower the leverage"
        );
    }
    Ok(())
}
