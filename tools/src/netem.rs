//! netem's words for an interface's egress impairment, as `rumpctl
//! ifconfig IF netem ...` and topology files take them, and the text
//! that shows one back: `loss P%`, `delay TIME [JITTER]`, `duplicate P%`,
//! `reorder P%`, `rate RATE`, `limit PACKETS`, `seed N`. What netem has
//! and we do not (correlations, distributions, loss models, corruption,
//! slots, reorder gaps) is refused by name rather than ignored.

use rump_kernel::net::netem::{Spec, DEFAULT_LIMIT, PPM};
use rump_kernel::syscalls::ifconfig::{IfNetem, IFNETEM_ON, IFNETEM_SEED};

const UNSUPPORTED: &[&str] = &["corrupt", "distribution", "slot", "gap", "ecn", "state", "gemodel"];

/// Parses the words after `netem` into the request SIOCSIFNETEM takes.
pub fn parse(words: &[String]) -> Result<IfNetem, String> {
    if words.is_empty() {
        return Err("netem: expected loss, delay, duplicate, reorder, rate, limit or seed".into());
    }
    let mut spec = Spec { limit: DEFAULT_LIMIT, ..Spec::default() };
    let mut flags = IFNETEM_ON;
    let mut it = words.iter().map(String::as_str).peekable();
    while let Some(w) = it.next() {
        let mut value = |what: &str| it.next().ok_or(format!("netem {w}: expected {what}"));
        match w {
            "loss" => {
                let mut v = value("a percentage such as 10%")?;
                if v == "random" {
                    v = value("a percentage such as 10%")?;
                }
                spec.loss_ppm = percent(w, v)?;
            }
            "duplicate" => spec.duplicate_ppm = percent(w, value("a percentage such as 1%")?)?,
            "reorder" => spec.reorder_ppm = percent(w, value("a percentage such as 25%")?)?,
            "delay" => {
                spec.delay_us = time(w, value("a time such as 20ms")?)?;
                if let Some(j) = it.next_if(|j| time("", j).is_ok()) {
                    spec.jitter_us = time(w, j)?;
                }
            }
            "rate" => spec.rate_bps = rate(value("a rate such as 10mbit")?)?,
            "limit" => {
                let v = value("a packet count")?;
                spec.limit =
                    v.parse().ok().filter(|n| *n > 0).ok_or(format!("netem limit {v}: expected a packet count"))?;
            }
            "seed" => {
                let v = value("a number")?;
                spec.seed = v.parse().map_err(|_| format!("netem seed {v}: expected a number"))?;
                flags |= IFNETEM_SEED;
            }
            w if UNSUPPORTED.contains(&w) => return Err(format!("netem {w}: not supported")),
            w if w.ends_with('%') => return Err(format!("netem {w}: correlations are not supported")),
            w => {
                return Err(format!(
                    "netem {w}: unknown word (known: loss, delay, duplicate, reorder, rate, limit, seed)"
                ))
            }
        }
    }
    if spec.reorder_ppm > 0 && spec.delay_us == 0 {
        return Err("netem reorder: needs a delay (reordered frames are the ones not delayed)".into());
    }
    Ok(IfNetem { spec, flags, ..IfNetem::default() })
}

/// `10%`, `0.5%` as parts per million.
fn percent(what: &str, v: &str) -> Result<u32, String> {
    let bad = || format!("netem {what} {v}: expected a percentage from 0% to 100%");
    let num = v.strip_suffix('%').ok_or_else(bad)?;
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() || frac.len() > 4 || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let scaled: u64 = format!("{int}{frac:0<4}").parse().map_err(|_| bad())?;
    u32::try_from(scaled).ok().filter(|p| *p <= PPM).ok_or_else(bad)
}

/// A time in tc's units (`us`, `ms`, `s`; a bare number is µs) as µs.
fn time(what: &str, v: &str) -> Result<u64, String> {
    let split = v.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let scale = match unit {
        "" | "us" | "usec" => 1.0,
        "ms" | "msec" => 1e3,
        "s" | "sec" => 1e6,
        _ => return Err(format!("netem {what} {v}: expected a time such as 20ms")),
    };
    num.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| (n * scale).round() as u64)
        .ok_or(format!("netem {what} {v}: expected a time such as 20ms"))
}

/// A rate in tc's units (`bit`, `kbit`, `mbit`, `gbit`; `bps`, `kbps`,
/// `mbps`, `gbps` are bytes per second) as bits per second.
fn rate(v: &str) -> Result<u64, String> {
    let split = v.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let bits = match unit.to_ascii_lowercase().as_str() {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        _ => return Err(format!("netem rate {v}: expected a rate such as 10mbit")),
    };
    num.parse::<f64>()
        .ok()
        .map(|n| (n * bits).round() as u64)
        .filter(|n| *n > 0)
        .ok_or(format!("netem rate {v}: expected a rate such as 10mbit"))
}

/// The impairment in the words that set it, then what it did.
pub fn describe(r: &IfNetem) -> String {
    if r.flags & IFNETEM_ON == 0 {
        return "none".into();
    }
    let (n, c) = (&r.spec, &r.counters);
    let pct = |ppm: u32| format!("{}%", ppm as f64 / 10_000.0);
    let time = |us: u64| if us.is_multiple_of(1000) { format!("{}ms", us / 1000) } else { format!("{us}us") };
    let mut w = Vec::new();
    if n.loss_ppm > 0 {
        w.push(format!("loss {}", pct(n.loss_ppm)));
    }
    if n.delay_us > 0 || n.jitter_us > 0 {
        w.push(format!("delay {}", time(n.delay_us)));
        if n.jitter_us > 0 {
            w.push(time(n.jitter_us));
        }
    }
    if n.duplicate_ppm > 0 {
        w.push(format!("duplicate {}", pct(n.duplicate_ppm)));
    }
    if n.reorder_ppm > 0 {
        w.push(format!("reorder {}", pct(n.reorder_ppm)));
    }
    if n.rate_bps > 0 {
        w.push(format!("rate {}kbit", n.rate_bps as f64 / 1e3));
    }
    w.push(format!("limit {} seed {}", n.limit, n.seed));
    format!(
        "{} (frames {}, lost {}, duplicated {}, reordered {}, over limit {}, waiting {})",
        w.join(" "),
        c.frames,
        c.lost,
        c.duplicated,
        c.reordered,
        c.overlimit,
        r.queued
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<IfNetem, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn takes_netem_words() {
        let n = p("loss 10% delay 20ms 5ms duplicate 0.5% reorder 25% rate 10mbit limit 50 seed 7").unwrap();
        let s = n.spec;
        assert_eq!(
            s,
            Spec {
                loss_ppm: 100_000,
                duplicate_ppm: 5_000,
                reorder_ppm: 250_000,
                limit: 50,
                delay_us: 20_000,
                jitter_us: 5_000,
                rate_bps: 10_000_000,
                seed: 7
            }
        );
        assert_eq!(n.flags, IFNETEM_ON | IFNETEM_SEED);
        assert_eq!(p("loss random 1% delay 100us").unwrap().spec.delay_us, 100);
        assert_eq!(p("delay 1.5s").unwrap().spec.delay_us, 1_500_000);
        assert_eq!(p("rate 1kbps").unwrap().spec.rate_bps, 8_000);
        assert_eq!(p("loss 10%").unwrap().flags, IFNETEM_ON);
        assert!(describe(&p("loss 10% delay 20ms 5ms seed 7").unwrap())
            .starts_with("loss 10% delay 20ms 5ms limit 1000 seed 7"));
    }

    #[test]
    fn refuses_by_name() {
        for (words, err) in [
            ("", "expected loss"),
            ("loss 10", "expected a percentage"),
            ("loss 101%", "expected a percentage"),
            ("loss", "loss: expected a percentage"),
            ("delay 20ms 5ms 25%", "correlations are not supported"),
            ("delay 20ms distribution normal", "distribution: not supported"),
            ("corrupt 1%", "corrupt: not supported"),
            ("delay fast", "expected a time"),
            ("rate 10", "expected a rate"),
            ("reorder 25%", "needs a delay"),
            ("limit 0", "expected a packet count"),
            ("jitter 1ms", "unknown word"),
        ] {
            let e = p(words).unwrap_err();
            assert!(e.contains(err), "{words:?}: {e}");
        }
    }
}
