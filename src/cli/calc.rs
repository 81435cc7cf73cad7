//! `perpsim calc liq|size|kelly`: risk calculators. `liq` is built; `size` and `kelly` come
//! with the risk layer.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::json;

use super::Failure;
use crate::exchange::Side;
use crate::exchange::margin::{self, PositionInput};
use crate::instrument::{Instruments, Tier};

#[derive(Subcommand, Debug)]
pub enum CalcCommand {
    /// Liquidation and bankruptcy price of a position (isolated or cross margin)
    Liq(LiqArgs),
    /// Position size from equity, entry, stop and risk (not built yet)
    Size(PendingArgs),
    /// Kelly fraction from win rate and average win/loss (not built yet)
    Kelly(PendingArgs),
}

#[derive(Args, Debug)]
pub struct PendingArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
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
    /// Symbol whose brackets to use, from the instrument file (default BTCUSDT)
    #[arg(long)]
    pub symbol: Option<String>,
    /// Instrument file (default: the shipped instruments/binance_usdm.toml)
    #[arg(long)]
    pub instruments: Option<PathBuf>,
    /// Maintenance margin rate instead of the symbol's brackets (fraction, 0.004 = 0.4 %)
    #[arg(long)]
    pub mmr: Option<Decimal>,
    /// Maintenance amount with --mmr, USDT
    #[arg(long, default_value = "0", requires = "mmr")]
    pub maint_amount: Decimal,
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
        CalcCommand::Size(_) => super::pending::not_built("calc size", "the risk layer (issue 4)"),
        CalcCommand::Kelly(_) => {
            super::pending::not_built("calc kelly", "the risk layer (issue 4)")
        }
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
    let tiers = if parts.len() == 7 {
        flat_tiers(num(parts[5])?, num(parts[6])?)
    } else {
        instruments
            .get(parts[0])
            .map_err(Failure::Work)?
            .brackets
            .clone()
    };
    Ok((
        margin::maintenance_margin(&tiers, qty, mark),
        margin::unrealized_pnl(side, qty, entry, mark),
    ))
}

fn liq(args: LiqArgs) -> Result<(), Failure> {
    let side = Side::parse(&args.side)
        .ok_or_else(|| usage(format!("--side '{}': expected long or short", args.side)))?;
    if args.qty <= Decimal::ZERO || args.entry <= Decimal::ZERO {
        return Err(usage("--qty and --entry must be > 0"));
    }
    let instruments = match &args.instruments {
        Some(path) => Instruments::load(path).map_err(Failure::Work)?,
        None => Instruments::binance_usdm(),
    };
    let symbol = args.symbol.clone().unwrap_or_else(|| "BTCUSDT".into());
    let (tiers, tier_source) = match args.mmr {
        Some(rate) => (flat_tiers(rate, args.maint_amount), "--mmr".to_string()),
        None => {
            let spec = instruments.get(&symbol).map_err(Failure::Work)?;
            (
                spec.brackets.clone(),
                format!("{symbol} in {}", instruments.source),
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
                instruments
                    .get(&symbol)
                    .map_err(Failure::Work)?
                    .check_leverage(notional, leverage)
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
    let liq = margin::liquidation_price(&input, &tiers);
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
        });
        println!("{out}");
        return Ok(());
    }
    match (liq.price, distance) {
        (Some(p), Some(dist)) => {
            let dir = if dist < Decimal::ZERO {
                "below"
            } else {
                "above"
            };
            println!(
                "liquidation price  {} USDT ({}% {dir} entry)",
                p.round_dp(2),
                dist.abs().round_dp(2)
            );
        }
        _ => println!("liquidation price  none: the margin covers a fall to 0"),
    }
    match bankruptcy {
        Some(b) => println!("bankruptcy price   {} USDT", b.round_dp(2)),
        None => println!("bankruptcy price   none"),
    }
    let cap = if tier.cap == Decimal::MAX {
        "∞".to_string()
    } else {
        tier.cap.to_string()
    };
    println!(
        "tier               {} ({}; notional {} to {} USDT): maintenance rate {}%, amount {} USDT",
        liq.tier + 1,
        tier_source,
        tier.floor,
        cap,
        (tier.maint_margin_rate * Decimal::ONE_HUNDRED).normalize(),
        tier.maint_amount
    );
    println!(
        "margin             {} USDT ({margin_note})",
        wallet.round_dp(2)
    );
    if !args.others.is_empty() {
        println!(
            "other positions    maintenance {} USDT, unrealised PnL {} USDT",
            other_maint.round_dp(2),
            other_upnl.round_dp(2)
        );
    }
    Ok(())
}
