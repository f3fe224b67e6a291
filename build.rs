//! Turns the `pgNN` feature the crate is built with into `pg_at_least = "N"`
//! flags, one for every major from 13 up to NN, so that code that differs
//! between PostgreSQL majors says `#[cfg(pg_at_least = "16")]` ("PostgreSQL
//! 16 or later") and a new major takes the newest branches without an edit.
//! The differences themselves live in `src/versions.rs`.

/// The oldest major the extension supports.
const OLDEST: u32 = 13;

fn main() {
    let values: Vec<String> = (OLDEST..=99).map(|n| format!("\"{n}\"")).collect();
    println!("cargo::rustc-check-cfg=cfg(pg_at_least, values({}))", values.join(", "));
    // pgrx's own feature check reports a missing or second one; here the
    // newest enabled wins, so that `cargo check --all-features` still builds.
    let major = std::env::vars()
        .filter_map(|(key, _)| key.strip_prefix("CARGO_FEATURE_PG")?.parse::<u32>().ok())
        .max();
    if let Some(major) = major {
        for n in OLDEST..=major {
            println!("cargo::rustc-cfg=pg_at_least=\"{n}\"");
        }
    }
}
