//! The launcher: connected to no database, it wakes every
//! `auth_sessions.prune_interval`, finds the database (and role) to prune,
//! starts a pruner there and waits for it (see mod.rs).

use super::{attach_signal_handlers, in_transaction, report, sleep, Problem, LAUNCHER, PRUNER};
use crate::ffi::Opened;
use crate::settings::{self, Pruning};
use pgrx::bgworkers::{BackgroundWorkerBuilder, BgWorkerStartTime};
use pgrx::prelude::*;
use std::ffi::{CStr, CString};
use std::time::Duration;

/// The OID of database `name` (InvalidOid when there is none). Unlike
/// `get_database_oid`, it reads pg_database without its index until the
/// shared catalogs' relcache entries are built: a process connected to no
/// database cannot build an index's entry (that needs pg_class), and right
/// after a server start nothing may have built them yet.
fn database_oid(name: &CStr) -> pg_sys::Oid {
    let rel = Opened::catalog(pg_sys::DatabaseRelationId);
    // SAFETY: the key compares datname with a NUL-terminated string, as
    // get_database_oid's does; a found tuple is a pg_database row.
    unsafe {
        let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
        pg_sys::ScanKeyInit(
            &mut key,
            pg_sys::Anum_pg_database_datname as pg_sys::AttrNumber,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_NAMEEQ),
            pg_sys::Datum::from(name.as_ptr()),
        );
        let scan = pg_sys::systable_beginscan(
            rel.rel(),
            pg_sys::Oid::from(pg_sys::DatabaseNameIndexId),
            pg_sys::criticalSharedRelcachesBuilt,
            std::ptr::null_mut(),
            1,
            &mut key,
        );
        let tuple = pg_sys::systable_getnext(scan);
        let oid = if tuple.is_null() {
            pg_sys::InvalidOid
        } else {
            (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_database>(tuple)).oid
        };
        pg_sys::systable_endscan(scan);
        oid
    }
}

/// The database to prune, when it (and the configured role) exist.
fn target(p: &Pruning) -> Result<pg_sys::Oid, (Problem, String)> {
    let database = settings::prune_database();
    let role = p.role.clone();
    in_transaction(None, move || {
        let oid = database_oid(&CString::new(database.clone()).unwrap_or_default());
        if oid == pg_sys::InvalidOid {
            return Err((
                Problem::NoDatabase,
                format!(
                    "{LAUNCHER}: database \"{database}\" does not exist; waiting for it, or for auth_sessions.prune_database to change"
                ),
            ));
        }
        if let Some(role) = role {
            let name = CString::new(role.clone()).unwrap_or_default();
            // SAFETY: a syscache lookup in a shared catalog (which reads
            // pg_authid without its index until that can be used).
            if unsafe { pg_sys::get_role_oid(name.as_ptr(), true) } == pg_sys::InvalidOid {
                return Err((
                    Problem::NoRole,
                    format!("{LAUNCHER}: role \"{role}\" (auth_sessions.prune_role) does not exist; not pruning until it does"),
                ));
            }
        }
        Ok(oid)
    })
    .unwrap_or_else(|message| Err((Problem::None, format!("{LAUNCHER}: {message}"))))
}

/// Starts a pruner for `database` and waits until it has finished.
fn prune_once(database: pg_sys::Oid) {
    let started = BackgroundWorkerBuilder::new(PRUNER)
        .set_type(PRUNER)
        .set_function("auth_sessions_pruner_main")
        .set_library("auth_sessions")
        .set_argument(Some(pg_sys::Datum::from(database)))
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(None)
        // SAFETY: reads this process's PID.
        .set_notify_pid(unsafe { pg_sys::MyProcPid })
        .load_dynamic();
    match started {
        // Interruptible: a termination of the launcher ends it here; the
        // pruner then finishes its run on its own.
        Ok(pruner) => {
            let _ = pruner.wait_for_shutdown();
        }
        Err(_) => report(Problem::NoWorkerSlot, || {
            format!("{LAUNCHER}: could not start a pruner (no free background worker slot; see max_worker_processes)")
        }),
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn auth_sessions_launcher_main(_arg: pg_sys::Datum) {
    attach_signal_handlers();
    // SAFETY: connects to no database (shared catalogs only), once, as
    // PostgreSQL's logical replication launcher does; the name is static.
    unsafe {
        pg_sys::BackgroundWorkerInitializeConnection(std::ptr::null(), std::ptr::null(), 0);
        pg_sys::pgstat_report_appname(c"auth_sessions launcher".as_ptr());
    }
    log!("{LAUNCHER} started");
    loop {
        let p = settings::pruning();
        sleep(Duration::from_secs(if p.interval > 0 { p.interval as u64 } else { 60 }));
        let p = settings::pruning();
        // SAFETY: reads shared recovery state.
        if p.interval == 0 || unsafe { pg_sys::RecoveryInProgress() } {
            continue;
        }
        match target(&p) {
            Ok(database) => prune_once(database),
            Err((Problem::None, message)) => log!("{message}"),
            Err((problem, message)) => report(problem, || message),
        }
    }
}

