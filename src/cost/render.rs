//! Printing a [`Bill`]: an aligned table for humans ([`render`]), and a
//! Markdown table of one column with numbered sources ([`markdown`]), which
//! the README's worked examples are.

use super::bill::{usd, Bill, Group, Span};
use super::card;
use super::rates::{Price, PriceSource};
use std::io::{self, Write};

/// The minimum or the maximum column of a bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Min,
    Max,
}

impl Column {
    fn pick<T: Clone>(self, s: &Span<T>) -> T {
        match self {
            Column::Min => s.min.clone(),
            Column::Max => s.max.clone(),
        }
    }
}

/// A unit price as the pages write it: `$0.059`, `$5.00`, `$0.01264355`.
pub fn unit_price(v: f64) -> String {
    if (v * 100.0 - (v * 100.0).round()).abs() < 1e-9 {
        format!("${v:.2}")
    } else {
        let s = format!("{v:.8}");
        format!("${}", s.trim_end_matches('0'))
    }
}

fn price_text(p: &Price) -> String {
    let mark = if card::is_unconfirmed(p) { "*" } else { "" };
    format!("{}/{}{mark}", unit_price(p.usd), p.unit)
}

/// Where the bill's prices came from, in a phrase.
pub fn sources_summary(bill: &Bill) -> String {
    let mut api: Vec<&str> = Vec::new();
    let mut cards: Vec<&str> = Vec::new();
    for l in &bill.lines {
        match &l.unit_price.source {
            PriceSource::PriceListApi { read, .. } => api.push(read),
            PriceSource::RateCard { date, .. } => cards.push(date),
        }
    }
    let dates = |v: &mut Vec<&str>| {
        v.sort();
        v.dedup();
        v.join(", ")
    };
    let unconfirmed = bill
        .lines
        .iter()
        .filter(|l| card::is_unconfirmed(&l.unit_price))
        .count();
    let mut parts = Vec::new();
    if !api.is_empty() {
        parts.push(format!("AWS Price List API (read {})", dates(&mut api)));
    }
    if !cards.is_empty() {
        let mut s = format!("embedded rate card (read {})", dates(&mut cards));
        if unconfirmed > 0 {
            s.push_str(&format!(
                "; {unconfirmed} figures marked * are not confirmed for {}",
                bill.region
            ));
        }
        parts.push(s);
    }
    if parts.is_empty() {
        parts.push("no prices".into());
    }
    parts.join(" and ")
}

fn how(line_how: &Span<String>) -> String {
    if line_how.min == line_how.max {
        line_how.min.clone()
    } else {
        format!("{} | {}", line_how.min, line_how.max)
    }
}

/// The bill as an aligned table: fixed costs, then usage costs, each line
/// at minimum and at maximum tasks with how it was derived and its unit
/// price; the totals; the assumptions; what could not be priced.
pub fn render(bill: &Bill, out: &mut dyn Write) -> io::Result<()> {
    const ITEM: usize = 32;
    const COL: usize = 11;
    writeln!(
        out,
        "Monthly cost in {} (USD; prices: {})",
        bill.region,
        sources_summary(bill)
    )?;
    writeln!(
        out,
        "  {:<ITEM$}{:>COL$}{:>COL$}",
        "",
        format!("{} tasks", bill.tasks.min),
        format!("{} tasks", bill.tasks.max)
    )?;
    for (group, title, subtotal) in [
        (Group::Fixed, "Fixed (runs whatever the traffic)", bill.fixed),
        (Group::Usage, "Usage (from the assumptions below)", bill.usage),
    ] {
        writeln!(out, "  {title}")?;
        for l in bill.lines.iter().filter(|l| l.group == group) {
            writeln!(
                out,
                "    {:<w$}{:>COL$}{:>COL$}   {} @ {}",
                l.item,
                usd(l.usd.min),
                usd(l.usd.max),
                how(&l.how),
                price_text(&l.unit_price),
                w = ITEM - 2
            )?;
        }
        writeln!(
            out,
            "    {:<w$}{:>COL$}{:>COL$}",
            "subtotal",
            usd(subtotal.min),
            usd(subtotal.max),
            w = ITEM - 2
        )?;
    }
    writeln!(
        out,
        "  {:<ITEM$}{:>COL$}{:>COL$}",
        "Total a month",
        usd(bill.total.min),
        usd(bill.total.max)
    )?;
    if !bill.unpriced.is_empty() {
        writeln!(out, "  Not priced (no price for {}; not in the total):", bill.region)?;
        for u in &bill.unpriced {
            writeln!(out, "    {}: {}", u.item, how(&u.how))?;
        }
    }
    writeln!(out, "  Assumptions (set with --traffic KEY=VALUE,…):")?;
    for a in &bill.assumptions {
        writeln!(out, "    {}={} {}: {}", a.key, a.value, a.unit, a.meaning)?;
    }
    writeln!(out, "  Not in this bill:")?;
    for o in &bill.not_included {
        writeln!(out, "    {}: {}", o.item, o.why)?;
    }
    for note in &bill.notes {
        writeln!(out, "  Note: {note}")?;
    }
    Ok(())
}

fn source_text(p: &Price) -> String {
    match &p.source {
        PriceSource::PriceListApi { read, sku } => format!("AWS Price List API, SKU {sku}, read {read}"),
        PriceSource::RateCard { source, date } => format!("{source}, read {date}"),
    }
}

/// The sources of one or more Markdown tables, numbered in the order met.
#[derive(Debug, Default)]
pub struct Sources(Vec<String>);

impl Sources {
    fn number(&mut self, p: &Price) -> usize {
        let s = source_text(p);
        match self.0.iter().position(|x| *x == s) {
            Some(i) => i + 1,
            None => {
                self.0.push(s);
                self.0.len()
            }
        }
    }

    /// The numbered list, for below the tables.
    pub fn markdown(&self) -> String {
        let mut md =
            String::from("Sources (a unit price marked * is not confirmed for the region: see its source):\n\n");
        for (i, s) in self.0.iter().enumerate() {
            md.push_str(&format!("{}. {s}\n", i + 1));
        }
        md
    }
}

/// One column of the bill as a Markdown table, each unit price numbered
/// to its source in `sources` (listed by [`Sources::markdown`]).
pub fn markdown(bill: &Bill, column: Column, sources: &mut Sources) -> String {
    let mut md = String::from("| Line | Quantity, and how | Unit price | Source | a month |\n|---|---|---|---|---:|\n");
    for (group, name, subtotal) in [(Group::Fixed, "Fixed", bill.fixed), (Group::Usage, "Usage", bill.usage)] {
        for l in bill.lines.iter().filter(|l| l.group == group) {
            md.push_str(&format!(
                "| {} | {} | {} | [{}] | {} |\n",
                l.item,
                column.pick(&l.how),
                price_text(&l.unit_price),
                sources.number(&l.unit_price),
                usd(column.pick(&l.usd))
            ));
        }
        md.push_str(&format!(
            "| *{name} subtotal* | | | | *{}* |\n",
            usd(column.pick(&subtotal))
        ));
    }
    md.push_str(&format!(
        "| **Total** | | | | **{}** |\n",
        usd(column.pick(&bill.total))
    ));
    if !bill.unpriced.is_empty() {
        md.push_str("\nNot priced (not in the total):\n\n");
        for u in &bill.unpriced {
            md.push_str(&format!("- {}: {}\n", u.item, column.pick(&u.how)));
        }
    }
    md
}
