//! Where the resumable sweep over `auth.sessions` reads next: a window of
//! heap blocks, read in physical order (prune.rs runs it as a TID range
//! scan), so that one call reads a bounded run of consecutive blocks
//! whatever the table's size, and successive calls cover the table.
//!
//! Positions are `(block, offset)` pairs, as in a `ctid`. A window runs from
//! a position to the start of a later block; the cursor kept between calls
//! is the position the next window starts at, or none once the sweep has
//! reached the end of the table (the next call starts over).

/// Rows per block assumed when the table's statistics say nothing yet
/// (never vacuumed or analyzed): about what a session row's size allows.
const ROWS_PER_BLOCK_UNKNOWN: f64 = 64.0;

/// How many blocks a call reads to examine about `rows` rows, at
/// `rows_per_block` rows per block (the table's statistics, if any): at
/// least one, and at most one for every eight rows, so that a table left
/// sparse by deletions (statistics not yet updated) is not read too far.
pub fn window(rows: i64, rows_per_block: Option<f64>) -> u32 {
    let rows = rows.max(1) as f64;
    let per_block = match rows_per_block {
        Some(r) if r.is_finite() && r >= 1.0 => r,
        _ => ROWS_PER_BLOCK_UNKNOWN,
    };
    let cap = (rows / 8.0).ceil().max(1.0);
    (rows / per_block).ceil().clamp(1.0, cap).min(u32::MAX as f64) as u32
}

/// The block a window starting at `from` ends before, in a table of
/// `blocks` blocks; `None` when `from` is past the end (the table has
/// shrunk since the cursor was saved): nothing to read.
pub fn until(from: (u32, u16), window: u32, blocks: u32) -> Option<u32> {
    (from.0 < blocks).then(|| from.0.saturating_add(window).min(blocks))
}

/// Where the next call starts: just after the row the batch stopped at when
/// it filled up, else at the end of the window read (`until`); `None` when
/// the window reached the end of the table (or there was nothing to read).
pub fn next(stopped_at: Option<(u32, u16)>, until: Option<u32>, blocks: u32) -> Option<(u32, u16)> {
    match (stopped_at, until) {
        (Some((block, offset)), _) => Some((block, offset.saturating_add(1))),
        (None, Some(end)) if end < blocks => Some((end, 0)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_the_rows_per_block() {
        assert_eq!(window(10_000, Some(50.0)), 200);
        assert_eq!(window(10_000, Some(33.3)), 301);
        // Unknown or nonsense statistics: the default density.
        assert_eq!(window(10_000, None), 157);
        assert_eq!(window(10_000, Some(-1.0)), 157);
        assert_eq!(window(10_000, Some(f64::NAN)), 157);
        assert_eq!(window(10_000, Some(0.0)), 157);
    }

    #[test]
    fn the_window_is_at_least_one_block_and_at_most_one_per_eight_rows() {
        assert_eq!(window(1, Some(50.0)), 1);
        assert_eq!(window(0, Some(50.0)), 1);
        assert_eq!(window(-5, None), 1);
        assert_eq!(window(10_000, Some(1.0)), 1250);
        assert_eq!(window(i64::MAX, Some(1.0)), u32::MAX);
    }

    #[test]
    fn a_window_stops_at_the_end_of_the_table() {
        assert_eq!(until((0, 0), 200, 1000), Some(200));
        assert_eq!(until((900, 7), 200, 1000), Some(1000));
        assert_eq!(until((1000, 0), 200, 1000), None);
        assert_eq!(until((5000, 0), 200, 1000), None);
        assert_eq!(until((0, 0), 200, 0), None);
        assert_eq!(until((u32::MAX - 1, 0), u32::MAX, u32::MAX), Some(u32::MAX));
    }

    #[test]
    fn the_next_call_resumes_after_the_last_row_taken_or_the_window() {
        // The batch filled up at (17, 4): resume at the next row.
        assert_eq!(next(Some((17, 4)), Some(200), 1000), Some((17, 5)));
        assert_eq!(next(Some((17, u16::MAX)), Some(200), 1000), Some((17, u16::MAX)));
        // It did not: the next window starts where this one ended.
        assert_eq!(next(None, Some(200), 1000), Some((200, 0)));
        // This window reached the end, or the cursor was past it: start over.
        assert_eq!(next(None, Some(1000), 1000), None);
        assert_eq!(next(None, None, 1000), None);
    }
}
