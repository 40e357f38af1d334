//! Wall-clock time for records (runs, archive log, watch events). Managed files never carry timestamps.

use time::format_description::FormatItem;
use time::macros::format_description;

fn now_as(format: &[FormatItem<'_>]) -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(format)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Now, as RFC 3339 UTC with second precision (archive log).
pub fn now_rfc3339() -> String {
    now_as(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
}

/// Now, with milliseconds (watch events).
pub fn now_rfc3339_millis() -> String {
    now_as(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
}

/// Now, with nanoseconds, fixed width: for records that must sort in the order they happened (runs).
pub fn now_rfc3339_precise() -> String {
    now_as(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixed_width_forms_sort_like_time() {
        assert_eq!(super::now_rfc3339().len(), 20);
        assert_eq!(super::now_rfc3339_millis().len(), 24);
        let a = super::now_rfc3339_precise();
        let b = super::now_rfc3339_precise();
        assert_eq!(a.len(), 30);
        assert!(a <= b);
    }
}
