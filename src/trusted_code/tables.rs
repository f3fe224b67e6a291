//! The table walk of the superuser guard: what a delete or update of a
//! table runs (triggers, rules, what storing a row runs), as whom, and the
//! tables its foreign keys' actions reach (see the module's comment in
//! `mod.rs`).

use super::expressions::ExprWalk;
use super::{is_superuser, rule_name, Culprit, Event, Finding, Walk, PG_CONSTRAINT};
use crate::ffi::{list_cells, relation_name, slice, triggers, Opened};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::{c_char, CStr};

/// The equality operators' functions of foreign key `constraint`
/// (`conpfeqop`, `conppeqop`, `conffeqop`), which its actions and checks call.
fn foreign_key_functions(constraint: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    let mut funcs = Vec::new();
    // SAFETY: a syscache lookup of the constraint; the arrays are read by
    // column name while the tuple is held, copied out, and released.
    unsafe {
        let tuple =
            pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::CONSTROID as i32, pg_sys::Datum::from(constraint));
        if tuple.is_null() {
            return funcs;
        }
        for column in [c"conpfeqop", c"conppeqop", c"conffeqop"] {
            let attnum = pg_sys::get_attnum(PG_CONSTRAINT, column.as_ptr());
            if attnum <= 0 {
                continue;
            }
            let mut isnull = false;
            let d = pg_sys::SysCacheGetAttr(pg_sys::SysCacheIdentifier::CONSTROID as i32, tuple, attnum, &mut isnull);
            if let Some(ops) = <Vec<Option<pg_sys::Oid>> as FromDatum>::from_datum(d, isnull) {
                funcs.extend(ops.into_iter().flatten().map(|op| pg_sys::get_opcode(op)));
            }
        }
        pg_sys::ReleaseSysCache(tuple);
    }
    funcs
}

/// What a referenced table's foreign-key trigger does to the referencing
/// table for `event`: `Some(Some(e))` it runs `e` there, `Some(None)` it only
/// checks (a query with the key's operators), `None` it is not an action of
/// a foreign key for this event.
fn foreign_key_action(func: pg_sys::Oid, event: Event) -> Option<Option<Event>> {
    let f = func.to_u32();
    match event {
        Event::Delete => match f {
            pg_sys::F_RI_FKEY_CASCADE_DEL => Some(Some(Event::Delete)),
            pg_sys::F_RI_FKEY_SETNULL_DEL | pg_sys::F_RI_FKEY_SETDEFAULT_DEL => Some(Some(Event::Update)),
            pg_sys::F_RI_FKEY_NOACTION_DEL | pg_sys::F_RI_FKEY_RESTRICT_DEL => Some(None),
            _ => None,
        },
        Event::Update => match f {
            pg_sys::F_RI_FKEY_CASCADE_UPD | pg_sys::F_RI_FKEY_SETNULL_UPD | pg_sys::F_RI_FKEY_SETDEFAULT_UPD => {
                Some(Some(Event::Update))
            }
            // The referencing side's own check queries the referenced table.
            pg_sys::F_RI_FKEY_NOACTION_UPD | pg_sys::F_RI_FKEY_RESTRICT_UPD | pg_sys::F_RI_FKEY_CHECK_UPD => Some(None),
            _ => None,
        },
    }
}

fn trigger_fires_for(tgtype: i16, event: Event) -> bool {
    let bit = match event {
        Event::Delete => pg_sys::TRIGGER_TYPE_DELETE,
        Event::Update => pg_sys::TRIGGER_TYPE_UPDATE,
    };
    (tgtype as u16 as u32) & bit != 0
}

impl Walk {
    /// Everything `event` on `table` run as `runs_as` can run, and what its
    /// foreign keys' actions reach (`runs_as`: the role the statement, or the
    /// foreign key's query, that does it runs as).
    pub(super) fn table(&mut self, table: pg_sys::Oid, event: Event, runs_as: pg_sys::Oid) -> Result<(), Finding> {
        if !self.tables.insert((table, event)) {
            return Ok(());
        }
        // Opened with the lock the statement (or the cascade) takes, which
        // conflicts with CREATE TRIGGER, CREATE RULE and ALTER TABLE, and is
        // kept to transaction end; what is read from the relcache is read
        // while it is open.
        let rel = Opened::relation(table, pg_sys::RowExclusiveLock);
        self.relation(rel.rel(), event, runs_as)
    }

    fn relation(&mut self, rel: pg_sys::Relation, event: Event, runs_as: pg_sys::Oid) -> Result<(), Finding> {
        // SAFETY: `rel` is open (see `table`); its relcache arrays hold the
        // counts they state.
        unsafe {
            let table = (*rel).rd_id;
            let form = &*(*rel).rd_rel;
            let partitioned = form.relkind as u8 == pg_sys::RELKIND_PARTITIONED_TABLE;
            let superuser = is_superuser(runs_as);
            let finding = |place: String, culprit: Culprit| Finding { table, runs_as, place, detail: culprit.detail() };
            if superuser {
                if event == Event::Update && (partitioned || form.relispartition) {
                    return Err(finding(
                        "an update".into(),
                        Culprit::Opaque(
                            "An update of a partitioned table can move rows between partitions, which runs their INSERT \
                             triggers and constraints; auth_sessions does not examine that."
                                .into(),
                        ),
                    ));
                }
                let rules = (*rel).rd_rules;
                if !rules.is_null() {
                    let wanted = match event {
                        Event::Delete => pg_sys::CmdType::CMD_DELETE,
                        Event::Update => pg_sys::CmdType::CMD_UPDATE,
                    };
                    for &rule in slice((*rules).rules, (*rules).numLocks) {
                        if (*rule).event == wanted {
                            return Err(finding(
                                rule_name((*rule).ruleId),
                                Culprit::Opaque(
                                    "A rule turns the statement into other statements, which auth_sessions does not examine."
                                        .into(),
                                ),
                            ));
                        }
                    }
                }
            }
            let mut cascades = Vec::new();
            for t in triggers(rel) {
                // A disabled trigger never fires; one enabled for replicas only
                // does (pruning deletes some rows as a replica would).
                if !trigger_fires_for(t.tgtype, event) || t.tgenabled == pg_sys::TRIGGER_DISABLED as c_char {
                    continue;
                }
                let place = || format!("trigger \"{}\"", CStr::from_ptr(t.tgname).to_string_lossy());
                // Who the trigger runs as (see the module's comment).
                let before = (t.tgtype as u16 as u32) & (pg_sys::TRIGGER_TYPE_BEFORE | pg_sys::TRIGGER_TYPE_INSTEAD) != 0;
                let (fires_as, as_superuser) = if before || superuser {
                    // An AFTER trigger of a table a cascade reaches fires as the
                    // statement's role; but pruning may delete those rows itself,
                    // as the table's owner (src/prune/), and then its AFTER
                    // triggers fire as that owner: checked against both.
                    (runs_as, superuser)
                } else if t.tgdeferrable {
                    (self.after_as, self.deferred_as_superuser)
                } else {
                    (self.after_as, is_superuser(self.after_as))
                };
                if as_superuser {
                    let refuse = |culprit: Culprit| Finding { table, runs_as: fires_as, place: place(), detail: culprit.detail() };
                    if !self.trusted(t.tgfoid) {
                        return Err(refuse(Culprit::Function { func: t.tgfoid, trail: Vec::new() }));
                    }
                    if let Some(c) = self.node_string(t.tgqual, vec!["in its WHEN clause".into()]) {
                        return Err(refuse(c));
                    }
                }
                if t.tgconstrrelid != pg_sys::InvalidOid {
                    if let Some(action) = foreign_key_action(t.tgfoid, event) {
                        cascades.push((t.tgconstrrelid, t.tgconstraint, action, place()));
                    }
                }
            }
            if superuser && event == Event::Update {
                self.stored_row(rel, &finding)?;
            }
            // A partitioned table's rows are its partitions'.
            if partitioned {
                for part in partitions(rel) {
                    self.table(part, event, runs_as)?;
                }
            }
            for (other, constraint, action, place) in cascades {
                // A foreign key's queries run as the owner of the table they
                // query: the referencing table for an action, the referenced
                // one for the referencing side's check.
                let runs_as = crate::security::owner_of(other);
                if is_superuser(runs_as) {
                    for func in foreign_key_functions(constraint) {
                        if !self.trusted(func) {
                            return Err(Finding {
                                table: other,
                                runs_as,
                                place: format!("the foreign key of {place}"),
                                detail: Culprit::Function { func, trail: vec!["an equality operator of the key".into()] }
                                    .detail(),
                            });
                        }
                    }
                }
                if let Some(event) = action {
                    self.table(other, event, runs_as)?;
                }
            }
            Ok(())
        }
    }

    /// What storing a new version of a row of `rel` runs: CHECK constraints,
    /// defaults and generated columns, the columns' types, the indexes.
    ///
    /// SAFETY: `rel` is open.
    unsafe fn stored_row(
        &mut self,
        rel: pg_sys::Relation,
        finding: &dyn Fn(String, Culprit) -> Finding,
    ) -> Result<(), Finding> {
        // SAFETY: as the function's contract says; the relcache's arrays hold
        // the counts they state, the index list is a copy, each index is
        // opened with the table's lock and closed here.
        unsafe {
            let desc = (*rel).rd_att;
            let constr = (*desc).constr;
            if !constr.is_null() {
                for check in slice((*constr).check, (*constr).num_check as i32) {
                    let name = CStr::from_ptr(check.ccname).to_string_lossy();
                    if let Some(c) = self.node_string(check.ccbin, Vec::new()) {
                        return Err(finding(format!("check constraint \"{name}\""), c));
                    }
                }
                for default in slice((*constr).defval, (*constr).num_defval as i32) {
                    if let Some(c) = self.node_string(default.adbin, Vec::new()) {
                        return Err(finding(format!("the default of column {}", default.adnum), c));
                    }
                }
            }
            for a in crate::rows::attributes(desc).into_iter().filter(|a| !a.attisdropped) {
                let column = CStr::from_ptr(a.attname.data.as_ptr()).to_string_lossy().into_owned();
                let mut cx = ExprWalk { walk: self, trail: Vec::new(), found: None };
                if cx.untrusted_type(a.atttypid) {
                    let c = cx.found.take().unwrap_or(Culprit::Opaque(String::new()));
                    return Err(finding(format!("the type of column \"{column}\""), c));
                }
            }
            let list = pg_sys::RelationGetIndexList(rel);
            let ids: Vec<pg_sys::Oid> = list_cells(list).iter().map(|c| c.oid_value).collect();
            for id in ids {
                let index = Opened::index(id, pg_sys::RowExclusiveLock);
                let place = format!("index {}", relation_name(id));
                self.index(index.rel()).map_err(|c| finding(place, c))?;
            }
            Ok(())
        }
    }

    /// What inserting into `index` runs.
    ///
    /// SAFETY: `index` is open.
    unsafe fn index(&mut self, index: pg_sys::Relation) -> Result<(), Culprit> {
        // SAFETY: as the function's contract says; `rd_support` holds
        // `amsupport` entries per key column, the exclusion arrays one per key
        // column.
        unsafe {
            for list in [pg_sys::RelationGetIndexExpressions(index), pg_sys::RelationGetIndexPredicate(index)] {
                if let Some(c) = self.expression(list.cast(), Vec::new()) {
                    return Err(c);
                }
            }
            let keys = (*(*index).rd_index).indnkeyatts as i32;
            let am = (*index).rd_indam;
            let support = if am.is_null() { 0 } else { (*am).amsupport as i32 } * keys;
            let mut funcs: Vec<pg_sys::Oid> =
                if (*index).rd_support.is_null() { Vec::new() } else { slice((*index).rd_support, support).to_vec() };
            if (*(*index).rd_index).indisexclusion {
                let (mut ops, mut procs, mut strategies) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
                pg_sys::RelationGetExclusionInfo(index, &mut ops, &mut procs, &mut strategies);
                funcs.extend_from_slice(slice(procs, keys));
            }
            for func in funcs {
                if !self.trusted(func) {
                    return Err(Culprit::Function { func, trail: Vec::new() });
                }
            }
            Ok(())
        }
    }
}

/// The partitions of partitioned table `rel`.
///
/// SAFETY: `rel` is an open partitioned table.
unsafe fn partitions(rel: pg_sys::Relation) -> Vec<pg_sys::Oid> {
    // SAFETY: as the function's contract says; the descriptor holds `nparts`
    // OIDs and is valid while the relation is open.
    unsafe {
        let pd = crate::versions::partition_desc(rel);
        if pd.is_null() {
            return Vec::new();
        }
        slice((*pd).oids, (*pd).nparts).to_vec()
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn oid(f: u32) -> pg_sys::Oid {
        pg_sys::Oid::from_u32(f)
    }

    #[test]
    fn a_delete_cascades_as_a_delete_and_set_null_as_an_update() {
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_CASCADE_DEL), Event::Delete), Some(Some(Event::Delete)));
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_SETNULL_DEL), Event::Delete), Some(Some(Event::Update)));
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_SETDEFAULT_DEL), Event::Delete), Some(Some(Event::Update)));
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_NOACTION_DEL), Event::Delete), Some(None));
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_RESTRICT_DEL), Event::Delete), Some(None));
    }

    #[test]
    fn an_update_reaches_update_actions_only() {
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_CASCADE_UPD), Event::Update), Some(Some(Event::Update)));
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_SETNULL_UPD), Event::Update), Some(Some(Event::Update)));
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_CHECK_UPD), Event::Update), Some(None));
        // A delete's action does nothing on an update, and the other way round.
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_CASCADE_DEL), Event::Update), None);
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_CASCADE_UPD), Event::Delete), None);
        // The referencing side's insert check is no action of a delete.
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_CHECK_INS), Event::Delete), None);
    }

    #[test]
    fn triggers_fire_for_their_events() {
        let before_delete_row = (pg_sys::TRIGGER_TYPE_BEFORE | pg_sys::TRIGGER_TYPE_DELETE | 1) as i16;
        let after_insert_or_update = (pg_sys::TRIGGER_TYPE_INSERT | pg_sys::TRIGGER_TYPE_UPDATE) as i16;
        assert!(trigger_fires_for(before_delete_row, Event::Delete));
        assert!(!trigger_fires_for(before_delete_row, Event::Update));
        assert!(trigger_fires_for(after_insert_or_update, Event::Update));
        assert!(!trigger_fires_for(after_insert_or_update, Event::Delete));
    }
}
