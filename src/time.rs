//! Time as people and APIs write it: RFC 3339 timestamps (the state file, the CI APIs) and
//! short human durations (`12.3s`, `4m05s`) for the log.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The last second RFC 3339's four-digit years can write: 9999-12-31T23:59:59Z.
const LAST_SECOND: u64 = 253_402_300_799;

/// Formats a time as RFC 3339 UTC with second precision (`2026-11-27T02:30:00Z`). Times before
/// 1970 are written as 1970's first second, times past year 9999 as its last.
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .min(LAST_SECOND);
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let second = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second / 3600,
        second / 60 % 60,
        second % 60
    )
}

/// Parses an RFC 3339 timestamp as the CI APIs write them (`2026-11-27T02:30:00Z`,
/// `2026-11-27T02:30:00.123Z`, `2026-11-27T03:30:00+01:00`); `None` when it is not one,
/// including a date or time that does not exist (`2026-02-31`, `24:30`). As RFC 3339 allows,
/// `t`, `z` and a space in place of `T` are read too, and a leap second counts as the
/// second before it.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim().as_bytes();
    let number = |at: usize, len: usize| -> Option<u32> {
        let digits = text.get(at..at + len)?;
        digits.iter().try_fold(0, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let punctuation = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if punctuation.iter().any(|&(at, b)| text.get(at) != Some(&b))
        || !matches!(text.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?.min(59));
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0;
    if text.get(at) == Some(&b'.') {
        let digits = text[at + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        // Digits past nanoseconds are dropped.
        let kept = digits.min(9);
        nanos = number(at + 1, kept)? * 10u32.pow(9 - kept as u32);
        at += 1 + digits;
    }
    let offset: i64 = match &text[at..] {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (hours, minutes) = (number(at + 1, 2)?, number(at + 4, 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset;
    let since_epoch = Duration::new(secs.unsigned_abs(), 0);
    let whole = if secs >= 0 {
        UNIX_EPOCH.checked_add(since_epoch)?
    } else {
        UNIX_EPOCH.checked_sub(since_epoch)?
    };
    whole.checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// The days of `month` in `year` of the Gregorian calendar.
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a Gregorian date, counting in 400-year eras of 146,097 days from a
/// March-first year, so the leap day falls at a year's end (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * i64::from((month + 9) % 12) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The Gregorian date `days` after 1970-01-01: the inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * march_month + 2) / 5 + 1) as u32;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// [`decimal`]'s reason for text that is not a decimal number.
pub const BAD_NUMBER: &str = "bad number";

/// [`decimal`]'s reason for a number past its limit, which a caller may clamp instead.
pub const TOO_LONG: &str = "too long";

/// `text`, a decimal number of `unit`s (`90`, `1.5`, `.25`), as a duration: [`BAD_NUMBER`]
/// when it is not digits with at most one point, [`TOO_LONG`] past `limit`. Digits past nanoseconds
/// are dropped. Integer arithmetic, so no decimal is rounded through binary floating point.
pub fn decimal(text: &str, unit: Duration, limit: Duration) -> Result<Duration, &'static str> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !digits(whole) || !digits(fraction) {
        return Err(BAD_NUMBER);
    }
    let unit = unit.as_nanos();
    let whole: u128 = match whole {
        "" => 0,
        // Only digits are left, so parsing fails on overflow alone.
        _ => whole.parse().map_err(|_| TOO_LONG)?,
    };
    let mut nanos = whole.checked_mul(unit);
    let mut scale = unit;
    for digit in fraction.bytes() {
        scale /= 10;
        nanos = nanos.and_then(|n| n.checked_add(u128::from(digit - b'0') * scale));
    }
    match nanos {
        Some(n) if n <= limit.as_nanos() => Ok(Duration::new(
            (n / 1_000_000_000) as u64,
            (n % 1_000_000_000) as u32,
        )),
        _ => Err(TOO_LONG),
    }
}

/// `n` divided by `d` to one decimal place, rounded half up: `tenths(1536, 1024)` is `1.5`.
pub fn tenths(n: u128, d: u128) -> String {
    let t = (n * 10 + d / 2) / d;
    format!("{}.{}", t / 10, t % 10)
}

/// Formats a duration for people: `850ms`, `12.3s`, `4m05s`, `1h02m`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}s", tenths(ms, 1000))
    } else if ms < 3_600_000 {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = d.as_secs() / 60;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

/// Waits before the next look at something that is not done yet: `poll`, or less when the
/// deadline comes first, so the last look is at the deadline itself. `false` once the deadline
/// has passed: the look just made was the last one. A signal (a cancelled job) ends the wait
/// with [`crate::signal::Interrupted`] within a tenth of a second.
pub fn wait_for_next_look(deadline: Instant, poll: Duration) -> anyhow::Result<bool> {
    let now = Instant::now();
    if now >= deadline {
        return Ok(false);
    }
    crate::signal::sleep(poll.min(deadline - now))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_look_is_at_the_deadline() {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(120);
        let mut looks = 1;
        while wait_for_next_look(deadline, Duration::from_millis(50)).unwrap() {
            looks += 1;
        }
        assert_eq!(looks, 4, "at 0, 50, 100 and 120 ms");
        assert!(start.elapsed() >= Duration::from_millis(120));
        assert!(!wait_for_next_look(deadline, Duration::from_millis(50)).unwrap());
    }

    #[test]
    fn decimals_are_exact_to_the_nanosecond() {
        let s = Duration::from_secs(1);
        assert_eq!(
            decimal("1.5", s, Duration::MAX),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(
            decimal("0.000000001", s, Duration::MAX),
            Ok(Duration::from_nanos(1))
        );
        assert_eq!(
            decimal("0.0000000019", s, Duration::MAX),
            Ok(Duration::from_nanos(1))
        );
        assert_eq!(decimal("2.", s, Duration::MAX), Ok(Duration::from_secs(2)));
        assert_eq!(decimal("61", s, Duration::from_secs(60)), Err("too long"));
        for bad in ["", ".", "1.2.3", "-1", "+1", "1e3", " 1", "0x10"] {
            assert_eq!(decimal(bad, s, Duration::MAX), Err("bad number"), "{bad:?}");
        }
    }

    #[test]
    fn tenths_round_half_up() {
        assert_eq!(tenths(1536, 1024), "1.5");
        assert_eq!(tenths(1024, 1024), "1.0");
        assert_eq!(tenths(1075, 1024), "1.0");
        assert_eq!(tenths(1076, 1024), "1.1");
        assert_eq!(human(Duration::from_millis(12_345)), "12.3s");
        assert_eq!(human(Duration::from_millis(59_960)), "60.0s");
    }

    #[test]
    fn parses_the_timestamps_ci_apis_write() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_746_600);
        assert_eq!(parse_rfc3339("2026-11-27T02:30:00Z"), Some(t));
        assert_eq!(
            parse_rfc3339("2026-11-27T02:30:00.250Z"),
            Some(t + Duration::from_millis(250))
        );
        assert_eq!(parse_rfc3339("2026-11-27T03:30:00+01:00"), Some(t));
        assert_eq!(parse_rfc3339("2026-11-27t02:30:00z"), Some(t));
        assert_eq!(parse_rfc3339(" 2026-11-27 01:00:00-01:30 "), Some(t));
        assert_eq!(
            parse_rfc3339("2026-11-27T02:29:60Z"),
            Some(t - Duration::from_secs(1))
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00Z")
                .map(rfc3339)
                .as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("1969-12-31T23:59:59.5Z"),
            Some(UNIX_EPOCH - Duration::from_millis(500))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z")
                .map(rfc3339)
                .as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        for bad in [
            "",
            "2026-11-27",
            "2026-13-01T00:00:00Z",
            "2026-11-27T02:30:00",
            "x026-11-27T02:30:00Z",
            "2026-11-27T02:30:00.Z",
            "2026-02-31T00:00:00Z",
            "2026-11-27T24:30:00Z",
            "2026-11-27T02:60:00Z",
            "2026-11-27T02:30:00+24:00",
            "2026-11-27T02:30:00+0100",
            "2026-11-27T02:30:00Zjunk",
            "2026-11-27X02:30:00Z",
            "2026-1-27T02:30:00Z",
            "2026-11-27T02:30:0+Z",
            "2100-02-29T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    /// Against jiff, on 20,000 instants from year 1 to 9999 with offsets of both signs and
    /// fractions of every length.
    #[test]
    fn reads_and_writes_as_jiff_does() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |below: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % below
        };
        let first = -62_135_596_800; // 0001-01-01T00:00:00Z
        for _ in 0..20_000 {
            let secs = first + next(LAST_SECOND + 62_135_596_801) as i64;
            let nanos = next(1_000_000_000) as i32;
            let offset = next(2 * 86_340) as i32 - 86_340;
            let ts = jiff::Timestamp::new(secs, nanos).unwrap();
            let zone = jiff::tz::TimeZone::fixed(
                jiff::tz::Offset::from_seconds(offset / 60 * 60).unwrap(),
            );
            let digits = next(10) as usize;
            let fraction = format!(".{nanos:09}");
            let fraction = if digits == 0 {
                ""
            } else {
                &fraction[..=digits]
            };
            let text = format!(
                "{}{fraction}{}",
                ts.to_zoned(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S"),
                ts.to_zoned(zone).strftime("%:z")
            );
            let expected: jiff::Timestamp = text.parse().unwrap();
            assert_eq!(
                parse_rfc3339(&text),
                Some(SystemTime::from(expected)),
                "{text}"
            );
            if secs >= 0 {
                let time = UNIX_EPOCH + Duration::from_secs(secs as u64);
                assert_eq!(rfc3339(time), ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
            }
        }
    }

    #[test]
    fn formats_times_and_durations() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00Z"
        );
        let far = UNIX_EPOCH + Duration::from_secs(LAST_SECOND + 86_400);
        assert_eq!(rfc3339(far), "9999-12-31T23:59:59Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_746_600)),
            "2026-11-27T02:30:00Z"
        );
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(human(Duration::from_secs(245)), "4m05s");
        assert_eq!(human(Duration::from_secs(3720)), "1h02m");
    }
}
