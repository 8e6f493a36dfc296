//! How a line is priced: [`Builder`] takes a line's quantity and how it
//! was derived, prices it from the card or, when the card lacks the price,
//! keeps it as unpriced; and the small helpers every family's lines share.

use super::{Allowance, Group, Line, Span, Unpriced};
use crate::config::Settings;
use crate::cost::rates::{PriceId, RateCard};
use crate::cost::usage::Usage;

pub(super) struct Builder<'a> {
    card: &'a RateCard,
    lines: Vec<Line>,
    pub(super) unpriced: Vec<Unpriced>,
}

impl<'a> Builder<'a> {
    pub fn new(card: &'a RateCard) -> Self {
        Builder {
            card,
            lines: Vec::new(),
            unpriced: Vec::new(),
        }
    }

    pub(super) fn add(
        &mut self,
        group: Group,
        item: &str,
        id: PriceId,
        quantity: Span<f64>,
        how: Span<String>,
        free: Option<Allowance>,
    ) {
        match self.card.get(id) {
            Some(price) => self.lines.push(Line {
                group,
                item: item.to_owned(),
                price_id: id,
                usd: Span {
                    min: quantity.min * price.usd,
                    max: quantity.max * price.usd,
                },
                quantity,
                how,
                free,
                unit_price: price.clone(),
            }),
            None => self.unpriced.push(Unpriced {
                item: item.to_owned(),
                price_id: Some(id),
                how,
            }),
        }
    }

    /// A line the same in both columns.
    pub(super) fn flat(
        &mut self,
        group: Group,
        item: &str,
        id: PriceId,
        quantity: f64,
        how: String,
        free: Option<Allowance>,
    ) {
        self.add(group, item, id, Span::both(quantity), Span::both(how), free);
    }

    pub fn finish(self) -> (Vec<Line>, Vec<Unpriced>) {
        (self.lines, self.unpriced)
    }
}

/// A number for a derivation: thousands grouped, at most 4 decimals.
pub fn n(v: f64) -> String {
    let s = format!("{:.4}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    let (int, frac) = s.split_once('.').map_or((s, None), |(i, f)| (i, Some(f)));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

pub(super) fn free(what: String, source: &str) -> Option<Allowance> {
    Some(Allowance {
        what,
        source: source.to_owned(),
    })
}

/// Requests a second that reach the load balancer and the tasks.
pub fn origin_rps(settings: &Settings, usage: &Usage) -> f64 {
    if settings.edge {
        usage.rps * (1.0 - usage.cache_hit)
    } else {
        usage.rps
    }
}
