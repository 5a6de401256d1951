//! The one parser of byte sizes and of durations, for the server's flags and
//! configuration file, the CLI and the benchmarks (so `10GB` means the same everywhere).
//!
//! * Sizes ([`parse_size`], `bytesize`): a number, optionally fractional, with an
//!   optional unit, case-insensitive. Binary units are powers of 1024 (`KiB`, `MiB`,
//!   `GiB`, `TiB`, `PiB`, also `Ki`…); decimal units are powers of 1000 (`KB`, `MB`,
//!   `GB`, `TB`, `PB`, also `K`, `M`, `G`…), as SI and S3's own documentation write them.
//!   A value beyond 64 bits is an error, never a saturated maximum.
//! * Durations ([`parse_duration`], `humantime`): `500ms`, `5s`, `2m`, `1h 30m`, `3d`,
//!   or a bare number of seconds.

use std::time::Duration;

/// A byte count (module docs).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let v = t
        .parse::<bytesize::ByteSize>()
        .map_err(|_| format!("{s:?} is not a byte size (e.g. 4096, 64KiB, 2GiB, 10GB)"))?
        .as_u64();
    // bytesize saturates: u64::MAX is an overflow unless it was written out.
    if v == u64::MAX && t != u64::MAX.to_string() {
        return Err(format!("{s:?} does not fit in 64 bits"));
    }
    Ok(v)
}

/// Whether `s` names a decimal unit (`KB`, `M`, …: powers of 1000) rather than a binary
/// one or none; callers that used to read those as powers of 1024 warn with it.
pub fn has_decimal_unit(s: &str) -> bool {
    let unit = s
        .trim()
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    let unit = unit.trim().to_ascii_lowercase();
    !unit.is_empty() && unit != "b" && !unit.contains('i')
}

/// A duration (module docs).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("{s:?} is too long a duration"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{s:?} is not a duration (e.g. 500ms, 5s, 2m, 1h): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("64 kib"), Ok(64 << 10));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("10GB"), Ok(10_000_000_000));
        assert_eq!(parse_size("10gb"), Ok(10_000_000_000));
        assert_eq!(parse_size("3M"), Ok(3_000_000));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size(&u64::MAX.to_string()), Ok(u64::MAX));
        assert!(has_decimal_unit("2GB") && has_decimal_unit("3m") && has_decimal_unit("1 K"));
        assert!(!has_decimal_unit("2GiB") && !has_decimal_unit("64 kib") && !has_decimal_unit("5"));
        assert!(!has_decimal_unit("5b"));
        for bad in ["", "lots", "-1", "1XB", "1e3", "99999PiB", "20000000PB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "soon", "5 parsecs", "-1s", "99999999999999999999"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
