//! The paper stream's output: each decision and exchange event as one JSON object, money as
//! exact decimal text (as exchanges' APIs write it).

use serde_json::{Value, json};

use crate::exchange::venue::{Event, EventKind, FillReason};
use crate::risk::audit::{Action, RiskEvent};
use crate::strategy::{Intent, Signal};

pub(super) fn signal_json(time: i64, s: &Signal, symbols: &[String]) -> Value {
    let mut v = json!({
        "type": "signal",
        "time": time,
        "symbol": symbols[s.symbol],
        "intent": s.intent.name(),
    });
    match s.intent {
        Intent::Enter {
            stop, take_profit, ..
        } => {
            v["stop"] = json!(stop);
            v["take_profit"] = json!(take_profit);
        }
        Intent::TargetExposure { exposure } => v["exposure"] = json!(exposure),
        Intent::Reduce { fraction } => v["fraction"] = json!(fraction),
        Intent::Exit => {}
    }
    v
}

/// An approved decision is the order it sent; anything else is a risk decision.
pub(super) fn risk_json(e: &RiskEvent, symbols: &[String]) -> Value {
    let kind = if e.action == Action::Approved {
        "order"
    } else {
        "risk"
    };
    let finite = |x: f64| x.is_finite().then_some(x);
    json!({
        "type": kind,
        "time": e.time,
        "symbol": e.symbol.map(|s| symbols[s].clone()),
        "intent": e.source.name(),
        "action": e.action.name(),
        "rule": e.rule.name(),
        "from": finite(e.from),
        "to": finite(e.to),
        "reason": e.reason(),
    })
}

/// Exchange events; money as exact decimal strings.
pub(super) fn venue_json(e: &Event, symbols: &[String]) -> Value {
    let base = |kind: &str| json!({"type": kind, "time": e.time, "symbol": symbols[e.symbol]});
    match &e.kind {
        EventKind::Fill {
            id,
            side,
            qty,
            price,
            fee,
            reason,
            leverage,
            reduce_only,
            insurance_cover,
        } => {
            let mut v = base("fill");
            if !insurance_cover.is_zero() {
                v["insurance_cover"] = json!(insurance_cover.to_string());
            }
            v["order"] = json!(id);
            v["side"] = json!(side.name());
            v["qty"] = json!(qty.to_string());
            v["price"] = json!(price.to_string());
            v["fee"] = json!(fee.to_string());
            v["leverage"] = json!(leverage.to_string());
            v["reduce_only"] = json!(reduce_only);
            v["reason"] = json!(match reason {
                FillReason::Market => "market",
                FillReason::Limit => "limit",
                FillReason::StopLoss => "stop",
                FillReason::TakeProfit => "take_profit",
            });
            v
        }
        EventKind::Rejected { id, reason } => {
            let mut v = base("rejected");
            v["order"] = json!(id);
            v["reason"] = json!(reason);
            v
        }
        EventKind::Cancelled { id } => {
            let mut v = base("cancelled");
            v["order"] = json!(id);
            v
        }
        EventKind::Funding { rate, mark, paid } => {
            let mut v = base("funding");
            v["rate"] = json!(rate);
            v["mark"] = json!(mark);
            v["paid"] = json!(paid.to_string());
            v
        }
        EventKind::Liquidation {
            side,
            qty,
            entry,
            liquidation_price,
            execution,
            loss,
            insurance_cover,
            co_liquidated,
            ..
        } => {
            let mut v = base("liquidation");
            v["side"] = json!(side.name());
            v["qty"] = json!(qty.to_string());
            v["entry"] = json!(entry.to_string());
            v["liquidation_price"] = json!(liquidation_price);
            v["execution"] = json!(execution.to_string());
            v["loss"] = json!(loss.to_string());
            v["insurance_cover"] = json!(insurance_cover.to_string());
            let others: Vec<Value> = co_liquidated
                .iter()
                .map(|(s, p)| json!({"symbol": symbols[*s], "execution": p.to_string()}))
                .collect();
            v["co_liquidated"] = json!(others);
            v
        }
        EventKind::MarginCall { ratio } => {
            let mut v = base("margin_call");
            v["margin_ratio"] = json!(ratio);
            v
        }
    }
}
