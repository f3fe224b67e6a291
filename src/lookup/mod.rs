//! Reading sessions, refresh tokens and amr claims from PostgreSQL without
//! SQL, and the one place that finds the relations, columns and indexes read
//! that way, checking their shape first. The two other readers of these
//! tables' heap, `kept_scan.rs` (a per-row function's kept index scan) and
//! `prune/direct.rs` (pruning's heap path), build on `catalog` and `heap` here.
//!
//! A lookup is an index probe under a snapshot: no query is parsed or
//! planned per call, no privilege or row-security check applies (callers
//! decide who may ask), and MVCC is the executor's: the caller's own
//! uncommitted changes are seen, another transaction's commit is seen by the
//! next statement (READ COMMITTED), and it works on a hot standby.
//!
//! Nothing is trusted by name alone:
//!
//! - the three tables must be plain heap tables, and every column read must
//!   exist with the seed's type (`sessions.id uuid`, `created_at timestamptz`,
//!   ...); otherwise the call fails with a clear error (SQLSTATE 0A000,
//!   42703 or 42804) instead of reading garbage;
//! - an index is used only when it is a valid, ready, non-partial btree index
//!   on that table whose first key column is the column searched, with the
//!   type's default operator class, whatever it is called; when there is
//!   none, the table itself is scanned (correct, only slower);
//! - only the rows of the tables themselves are read, never those of
//!   inheritance children (an archive table that inherits from
//!   `auth.sessions`, say), as with `FROM ONLY`.
//!
//! What was found is kept until a relcache invalidation touches one of the
//! relations (DDL on them, their indexes, DROP/CREATE EXTENSION), and checked
//! again then; callers lock the relations before using it, so it cannot
//! change under them within a transaction.
//!
//! By concern: `catalog` (finding and checking the relations), `heap`
//! (probes, snapshots, decoders), `reads` (sessions), `factors`
//! (`auth.mfa_factors`), `spi` (sessions read through SPI). `kept_scan.rs`
//! builds on `catalog` and `heap`; `reads` on it.

pub mod catalog;
mod factors;
pub mod heap;
mod reads;
mod spi;

pub use catalog::{auth_relation, catalog, enum_label, register, sessions_extent, Catalog, Child, Index};
pub use heap::{inet_at, statement_snapshot, text_at, with_latest_snapshot, Seen};
pub use reads::{aal_at, complete, device_columns, low_aal, session, user_sessions, user_sessions_with, SessionRow};
pub use spi::{session_from_row, spi_failed};
