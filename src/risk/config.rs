//! The `[risk]` table: what the user wrote ([`RawRisk`]) and the checked rules ([`RiskConfig`])
//! that alone reach the risk layer.
//!
//! Every rule has a documented default (the `default` preset) and is switched off by writing
//! `false` for it. `preset = "off"` starts from every rule off (the naive bot: sizing alone,
//! at `max_leverage`), and rules written beside it switch back on. Durations are text: `"90m"`,
//! `"24h"`, `"7d"`, `"2w"`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// How a new position is sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sizing {
    /// a fixed notional (USDT) per position
    FixedNotional,
    /// margin = a fraction of equity, notional = margin × leverage (the DIY bot)
    FixedFraction,
    /// lose `risk_per_trade` of equity if the stop is hit
    RiskPerTrade,
    /// the Kelly fraction of the strategy's own closed trades, scaled
    Kelly,
    /// the position's daily volatility = `volatility_target` of equity
    VolatilityTarget,
}

/// What the liquidation buffer does with an entry whose stop sits too near the liquidation
/// price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferAction {
    /// lower the leverage (isolated) or the size (cross) until the buffer holds
    Reduce,
    /// refuse the entry
    Refuse,
}

/// A rule's setting as written: absent (the preset's value), `false` (off), or a value.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Setting<T> {
    #[default]
    Preset,
    Off,
    On(T),
}

impl<T: Copy> Setting<T> {
    fn or(self, preset: Option<T>) -> Option<T> {
        match self {
            Setting::Preset => preset,
            Setting::Off => None,
            Setting::On(v) => Some(v),
        }
    }
}

/// Reads `false` as off and anything else through `parse`.
fn setting<'de, D, T>(
    d: D,
    what: &str,
    parse: impl Fn(&toml::Value) -> Option<T>,
) -> Result<Setting<T>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = toml::Value::deserialize(d)?;
    if value == toml::Value::Boolean(false) {
        return Ok(Setting::Off);
    }
    parse(&value).map(Setting::On).ok_or_else(|| {
        D::Error::custom(format!(
            "expected {what}, or false to switch the rule off; found {value}"
        ))
    })
}

fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Setting<f64>, D::Error> {
    setting(d, "a number", |v| match v {
        toml::Value::Float(f) => Some(*f),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    })
}

fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Setting<u32>, D::Error> {
    setting(d, "a whole number", |v| match v {
        toml::Value::Integer(i) => u32::try_from(*i).ok(),
        _ => None,
    })
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Setting<i64>, D::Error> {
    setting(
        d,
        "a duration such as \"90m\", \"24h\", \"7d\" or \"2w\"",
        |v| v.as_str().and_then(parse_duration),
    )
}

/// `"90m"`, `"24h"`, `"7d"`, `"2w"` → ms; `None` for anything else (or ≤ 0).
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let count: i64 = text[..text.len() - unit.len_utf8()].trim().parse().ok()?;
    let ms = match unit {
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 7 * 86_400_000,
        _ => return None,
    };
    (count > 0).then(|| count.checked_mul(ms)).flatten()
}

/// The `[risk]` table exactly as written. Unknown keys are errors.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRisk {
    pub preset: Option<String>,
    pub sizing: Option<Sizing>,
    #[serde(default, deserialize_with = "number")]
    pub fixed_notional: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub fixed_fraction: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub risk_per_trade: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub kelly_scale: Setting<f64>,
    #[serde(default, deserialize_with = "count")]
    pub kelly_min_trades: Setting<u32>,
    #[serde(default, deserialize_with = "number")]
    pub volatility_target: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub max_leverage: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub max_position_pct: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub max_total_exposure: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub cash_reserve: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub min_reward_risk: Setting<f64>,
    pub require_stop: Option<bool>,
    #[serde(default, deserialize_with = "number")]
    pub default_stop_atr: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub liquidation_buffer: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub liquidation_buffer_atr: Setting<f64>,
    pub liquidation_buffer_action: Option<BufferAction>,
    #[serde(default, deserialize_with = "number")]
    pub daily_loss_limit: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub weekly_loss_limit: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub max_drawdown: Setting<f64>,
    #[serde(default, deserialize_with = "duration")]
    pub drawdown_cooldown: Setting<i64>,
    #[serde(default, deserialize_with = "count")]
    pub losing_streak: Setting<u32>,
    #[serde(default, deserialize_with = "duration")]
    pub losing_streak_cooldown: Setting<i64>,
    #[serde(default, deserialize_with = "number")]
    pub volatility_halt: Setting<f64>,
    #[serde(default, deserialize_with = "duration")]
    pub volatility_window: Setting<i64>,
    #[serde(default, deserialize_with = "duration")]
    pub volatility_baseline: Setting<i64>,
    #[serde(default, deserialize_with = "count")]
    pub atr_bars: Setting<u32>,
    #[serde(default, deserialize_with = "number")]
    pub margin_halt_at: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub margin_deleverage_at: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub margin_exit_at: Setting<f64>,
    #[serde(default, deserialize_with = "number")]
    pub liquidation_probability: Setting<f64>,
    #[serde(default, deserialize_with = "duration")]
    pub liquidation_horizon: Setting<i64>,
    #[serde(default, deserialize_with = "number")]
    pub max_portfolio_volatility: Setting<f64>,
}

/// The checked rules. `None` is a rule switched off. Fractions: 0.01 = 1 %.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RiskConfig {
    pub sizing: Sizing,
    /// USDT per position (`sizing = "fixed_notional"`)
    pub fixed_notional: f64,
    /// fraction of equity committed as margin per position (`sizing = "fixed_fraction"`)
    pub fixed_fraction: f64,
    /// fraction of equity lost if the stop is hit (`risk_per_trade`, and `kelly` before it has
    /// enough trades)
    pub risk_per_trade: f64,
    /// fraction of the full Kelly stake (0.5 = half Kelly)
    pub kelly_scale: f64,
    /// closed trades needed before Kelly sizing applies
    pub kelly_min_trades: u32,
    /// the position's expected daily volatility as a fraction of equity
    pub volatility_target: f64,
    /// the leverage orders are sent with, and the most any position may use; off: the
    /// instrument bracket's maximum
    pub max_leverage: Option<f64>,
    /// fraction of equity: the most margin one position may take
    pub max_position_pct: Option<f64>,
    /// gross notional / equity, over all positions
    pub max_total_exposure: Option<f64>,
    /// fraction of the wallet never committed as margin
    pub cash_reserve: Option<f64>,
    /// take-profit distance / stop distance, for entries that have both
    pub min_reward_risk: Option<f64>,
    /// entries without a stop (after `default_stop_atr`) are refused
    pub require_stop: bool,
    /// an entry without a stop gets one this many ATRs away
    pub default_stop_atr: Option<f64>,
    /// fraction of the entry price the stop must sit before the liquidation price
    pub liquidation_buffer: Option<f64>,
    /// the same in ATRs; with both, the larger distance holds
    pub liquidation_buffer_atr: Option<f64>,
    pub liquidation_buffer_action: BufferAction,
    /// fraction of the UTC day's starting equity
    pub daily_loss_limit: Option<f64>,
    /// fraction of the UTC week's (from Monday) starting equity
    pub weekly_loss_limit: Option<f64>,
    /// fraction below the equity peak that closes everything
    pub max_drawdown: Option<f64>,
    /// ms of pause after the drawdown kill switch; off: stop for good
    pub drawdown_cooldown: Option<i64>,
    /// consecutive losing trades that pause new entries
    pub losing_streak: Option<u32>,
    /// ms of that pause
    pub losing_streak_cooldown: i64,
    /// short-window volatility / long-run volatility above which entries halt
    pub volatility_halt: Option<f64>,
    /// ms: span of the short volatility, ATR-free estimates and correlations
    pub volatility_window: i64,
    /// ms: span of the long-run volatility level
    pub volatility_baseline: i64,
    /// bars of the ATR (Wilder)
    pub atr_bars: u32,
    /// account margin ratio (maintenance / equity) at which new entries halt
    pub margin_halt_at: Option<f64>,
    /// margin ratio at which positions are cut back toward `margin_halt_at`
    pub margin_deleverage_at: Option<f64>,
    /// margin ratio at which every position is closed
    pub margin_exit_at: Option<f64>,
    /// the most probability of liquidation within the horizon a position may carry
    pub liquidation_probability: Option<f64>,
    /// ms
    pub liquidation_horizon: i64,
    /// the portfolio's daily volatility as a fraction of equity, from the covariance of returns
    pub max_portfolio_volatility: Option<f64>,
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

impl RiskConfig {
    /// The `default` preset: what a careful trader would start with.
    pub fn default_rules() -> RiskConfig {
        RiskConfig {
            sizing: Sizing::RiskPerTrade,
            fixed_notional: 1_000.0,
            fixed_fraction: 0.1,
            risk_per_trade: 0.01,
            kelly_scale: 0.5,
            kelly_min_trades: 30,
            volatility_target: 0.01,
            max_leverage: Some(3.0),
            max_position_pct: Some(0.5),
            max_total_exposure: Some(3.0),
            cash_reserve: Some(0.1),
            min_reward_risk: None,
            require_stop: true,
            default_stop_atr: Some(3.0),
            liquidation_buffer: Some(0.02),
            liquidation_buffer_atr: None,
            liquidation_buffer_action: BufferAction::Reduce,
            daily_loss_limit: Some(0.05),
            weekly_loss_limit: Some(0.10),
            max_drawdown: Some(0.30),
            drawdown_cooldown: None,
            losing_streak: Some(5),
            losing_streak_cooldown: DAY,
            volatility_halt: Some(3.0),
            volatility_window: 3 * DAY,
            volatility_baseline: 90 * DAY,
            atr_bars: 14,
            margin_halt_at: Some(0.5),
            margin_deleverage_at: Some(0.7),
            margin_exit_at: Some(0.85),
            liquidation_probability: Some(0.01),
            liquidation_horizon: DAY,
            max_portfolio_volatility: Some(0.05),
        }
    }

    /// The `off` preset: every rule off; sizing alone, at the instrument's maximum leverage
    /// unless `max_leverage` is set.
    pub fn no_rules() -> RiskConfig {
        RiskConfig {
            sizing: Sizing::FixedFraction,
            max_leverage: None,
            max_position_pct: None,
            max_total_exposure: None,
            cash_reserve: None,
            min_reward_risk: None,
            require_stop: false,
            default_stop_atr: None,
            liquidation_buffer: None,
            liquidation_buffer_atr: None,
            daily_loss_limit: None,
            weekly_loss_limit: None,
            max_drawdown: None,
            losing_streak: None,
            volatility_halt: None,
            margin_halt_at: None,
            margin_deleverage_at: None,
            margin_exit_at: None,
            liquidation_probability: None,
            max_portfolio_volatility: None,
            ..RiskConfig::default_rules()
        }
    }

    /// Parses a `[risk]` table's text (TOML) and checks it.
    pub fn parse(text: &str) -> Result<RiskConfig, String> {
        let raw: RawRisk = toml::from_str(text).map_err(|e| e.to_string())?;
        raw.resolve().map_err(|e| e.to_string())
    }
}

/// A rule's value out of range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("risk.{field}: {message}")]
pub struct RiskConfigError {
    pub field: &'static str,
    pub message: String,
}

impl RawRisk {
    /// Applies the preset and checks every value.
    pub fn resolve(&self) -> Result<RiskConfig, RiskConfigError> {
        let base = match self.preset.as_deref() {
            None | Some("default") => RiskConfig::default_rules(),
            Some("off") => RiskConfig::no_rules(),
            Some(other) => {
                return Err(RiskConfigError {
                    field: "preset",
                    message: format!("unknown preset {other:?}; known: \"default\", \"off\""),
                });
            }
        };
        let b = &base;
        let value = |s: Setting<f64>, preset: f64| s.or(Some(preset)).unwrap_or(preset);
        let config = RiskConfig {
            sizing: self.sizing.unwrap_or(b.sizing),
            fixed_notional: value(self.fixed_notional, b.fixed_notional),
            fixed_fraction: value(self.fixed_fraction, b.fixed_fraction),
            risk_per_trade: value(self.risk_per_trade, b.risk_per_trade),
            kelly_scale: value(self.kelly_scale, b.kelly_scale),
            kelly_min_trades: self
                .kelly_min_trades
                .or(Some(b.kelly_min_trades))
                .unwrap_or(0),
            volatility_target: value(self.volatility_target, b.volatility_target),
            max_leverage: self.max_leverage.or(b.max_leverage),
            max_position_pct: self.max_position_pct.or(b.max_position_pct),
            max_total_exposure: self.max_total_exposure.or(b.max_total_exposure),
            cash_reserve: self.cash_reserve.or(b.cash_reserve),
            min_reward_risk: self.min_reward_risk.or(b.min_reward_risk),
            require_stop: self.require_stop.unwrap_or(b.require_stop),
            default_stop_atr: self.default_stop_atr.or(b.default_stop_atr),
            liquidation_buffer: self.liquidation_buffer.or(b.liquidation_buffer),
            liquidation_buffer_atr: self.liquidation_buffer_atr.or(b.liquidation_buffer_atr),
            liquidation_buffer_action: self
                .liquidation_buffer_action
                .unwrap_or(b.liquidation_buffer_action),
            daily_loss_limit: self.daily_loss_limit.or(b.daily_loss_limit),
            weekly_loss_limit: self.weekly_loss_limit.or(b.weekly_loss_limit),
            max_drawdown: self.max_drawdown.or(b.max_drawdown),
            drawdown_cooldown: self.drawdown_cooldown.or(b.drawdown_cooldown),
            losing_streak: self.losing_streak.or(b.losing_streak),
            losing_streak_cooldown: self
                .losing_streak_cooldown
                .or(Some(b.losing_streak_cooldown))
                .unwrap_or(b.losing_streak_cooldown),
            volatility_halt: self.volatility_halt.or(b.volatility_halt),
            volatility_window: self
                .volatility_window
                .or(Some(b.volatility_window))
                .unwrap_or(b.volatility_window),
            volatility_baseline: self
                .volatility_baseline
                .or(Some(b.volatility_baseline))
                .unwrap_or(b.volatility_baseline),
            atr_bars: self.atr_bars.or(Some(b.atr_bars)).unwrap_or(b.atr_bars),
            margin_halt_at: self.margin_halt_at.or(b.margin_halt_at),
            margin_deleverage_at: self.margin_deleverage_at.or(b.margin_deleverage_at),
            margin_exit_at: self.margin_exit_at.or(b.margin_exit_at),
            liquidation_probability: self.liquidation_probability.or(b.liquidation_probability),
            liquidation_horizon: self
                .liquidation_horizon
                .or(Some(b.liquidation_horizon))
                .unwrap_or(b.liquidation_horizon),
            max_portfolio_volatility: self.max_portfolio_volatility.or(b.max_portfolio_volatility),
        };
        config.check()?;
        Ok(config)
    }
}

impl RiskConfig {
    /// Every value in its range; the first one that is not is named.
    pub fn check(&self) -> Result<(), RiskConfigError> {
        let fail = |field: &'static str, message: String| Err(RiskConfigError { field, message });
        let positive = [
            ("fixed_notional", Some(self.fixed_notional)),
            ("volatility_target", Some(self.volatility_target)),
            ("max_total_exposure", self.max_total_exposure),
            ("min_reward_risk", self.min_reward_risk),
            ("default_stop_atr", self.default_stop_atr),
            ("liquidation_buffer_atr", self.liquidation_buffer_atr),
            ("max_portfolio_volatility", self.max_portfolio_volatility),
        ];
        for (field, v) in positive {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return fail(field, format!("{v} must be > 0"));
            }
        }
        let fractions = [
            ("fixed_fraction", Some(self.fixed_fraction)),
            ("risk_per_trade", Some(self.risk_per_trade)),
            ("kelly_scale", Some(self.kelly_scale)),
            ("max_position_pct", self.max_position_pct),
            ("liquidation_buffer", self.liquidation_buffer),
            ("daily_loss_limit", self.daily_loss_limit),
            ("weekly_loss_limit", self.weekly_loss_limit),
            ("max_drawdown", self.max_drawdown),
            ("margin_halt_at", self.margin_halt_at),
            ("margin_deleverage_at", self.margin_deleverage_at),
            ("margin_exit_at", self.margin_exit_at),
            ("liquidation_probability", self.liquidation_probability),
        ];
        for (field, v) in fractions {
            if let Some(v) = v
                && !(v > 0.0 && v <= 1.0)
            {
                return fail(field, format!("{v} must be a fraction in (0, 1]"));
            }
        }
        if let Some(v) = self.cash_reserve
            && !(0.0..1.0).contains(&v)
        {
            return fail("cash_reserve", format!("{v} must be a fraction in [0, 1)"));
        }
        if let Some(v) = self.max_leverage
            && !(v.is_finite() && v >= 1.0)
        {
            return fail("max_leverage", format!("{v} must be ≥ 1"));
        }
        if let Some(v) = self.volatility_halt
            && !(v.is_finite() && v > 1.0)
        {
            return fail(
                "volatility_halt",
                format!("{v} must be > 1 (a multiple of the long-run volatility)"),
            );
        }
        if self.losing_streak == Some(0) {
            return fail("losing_streak", "0 must be ≥ 1".into());
        }
        if self.atr_bars == 0 {
            return fail("atr_bars", "0 must be ≥ 1".into());
        }
        if self.volatility_baseline <= self.volatility_window {
            return fail(
                "volatility_baseline",
                "must be longer than volatility_window".into(),
            );
        }
        let levels = [
            self.margin_halt_at,
            self.margin_deleverage_at,
            self.margin_exit_at,
        ];
        let on: Vec<f64> = levels.into_iter().flatten().collect();
        if on.windows(2).any(|w| w[0] >= w[1]) {
            return fail(
                "margin_deleverage_at",
                "margin guard levels must rise: margin_halt_at < margin_deleverage_at < margin_exit_at".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_presets_and_switching_off() {
        let config = RiskConfig::parse("").unwrap();
        assert_eq!(config, RiskConfig::default_rules());
        let config = RiskConfig::parse("max_drawdown = false\nmax_leverage = 5").unwrap();
        assert_eq!(config.max_drawdown, None);
        assert_eq!(config.max_leverage, Some(5.0));
        let config = RiskConfig::parse("preset = \"off\"\ndaily_loss_limit = 0.03").unwrap();
        assert_eq!(config.daily_loss_limit, Some(0.03));
        assert_eq!(config.max_total_exposure, None);
        assert_eq!(config.sizing, Sizing::FixedFraction);
        let config = RiskConfig::parse("losing_streak_cooldown = \"12h\"").unwrap();
        assert_eq!(config.losing_streak_cooldown, 12 * HOUR);
    }

    #[test]
    fn bad_keys_and_values_name_the_field() {
        let e = RiskConfig::parse("max_leverge = 3").unwrap_err();
        assert!(e.contains("unknown field `max_leverge`"), "{e}");
        assert!(e.contains("max_leverage"), "{e}");
        let e = RiskConfig::parse("risk_per_trade = 1.5").unwrap_err();
        assert_eq!(e, "risk.risk_per_trade: 1.5 must be a fraction in (0, 1]");
        let e = RiskConfig::parse("max_drawdown = true").unwrap_err();
        assert!(
            e.contains("expected a number, or false to switch the rule off; found true"),
            "{e}"
        );
        assert!(e.contains("line 1"), "{e}");
        let e = RiskConfig::parse("drawdown_cooldown = \"3 days\"").unwrap_err();
        assert!(e.contains("a duration such as"), "{e}");
        let e = RiskConfig::parse("margin_halt_at = 0.9").unwrap_err();
        assert!(e.contains("must rise"), "{e}");
        let e = RiskConfig::parse("preset = \"yolo\"").unwrap_err();
        assert!(e.contains("unknown preset \"yolo\""), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90m"), Some(90 * 60_000));
        assert_eq!(parse_duration("7d"), Some(7 * DAY));
        assert_eq!(parse_duration("2w"), Some(14 * DAY));
        assert_eq!(parse_duration("0h"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5y"), None);
    }
}
