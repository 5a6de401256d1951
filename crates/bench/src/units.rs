//! Parsing of size and duration flags.

use std::time::Duration;

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// A positive byte size, parsed as everywhere in Coffer (`coffer_units::parse_size`:
/// `4KiB`, `64MiB`, `1GiB` binary; `KB`, `MB`, `GB` decimal).
pub fn parse_size(s: &str) -> Result<u64, String> {
    match coffer_units::parse_size(s)? {
        0 => Err(format!("size {s:?} must be positive")),
        n => Ok(n),
    }
}

/// A positive duration, parsed as everywhere in Coffer (`coffer_units::parse_duration`:
/// `500ms`, `5s`, `2m`, `1h`, or bare seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = coffer_units::parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(d)
}

/// Human byte size (`64 MiB`, `4 KiB`, `1.5 GiB`, `100 B`).
pub fn fmt_size(n: u64) -> String {
    for (unit, div) in [("GiB", GIB), ("MiB", MIB), ("KiB", KIB)] {
        if n >= div {
            let v = n as f64 / div as f64;
            return if n.is_multiple_of(div) {
                format!("{} {unit}", n / div)
            } else {
                format!("{v:.1} {unit}")
            };
        }
    }
    format!("{n} B")
}

/// A figure with about three significant digits.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".into()
    } else {
        // Two significant digits: per-key CPU figures are often well below 0.001.
        let decimals = (-a.log10()).floor() as usize + 2;
        format!("{v:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 * MIB));
        assert_eq!(parse_size("1gib"), Ok(GIB));
        assert_eq!(parse_size("5 MB"), Ok(5_000_000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("3x").is_err());
        assert_eq!(fmt_size(64 * MIB), "64 MiB");
        assert_eq!(fmt_size(3 * MIB / 2), "1.5 MiB");
        assert_eq!(fmt_num(2517.4), "2517");
        assert_eq!(fmt_num(0.21), "0.21");
        assert_eq!(fmt_num(0.016), "0.016");
        assert_eq!(fmt_num(0.00077), "0.00077");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5 parsecs").is_err());
    }
}
