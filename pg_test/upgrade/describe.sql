-- What an installation of extension :'ext' consists of, one line per fact,
-- sorted, so that two databases can be compared with diff: an install of the
-- current version and a released version brought up to it with ALTER
-- EXTENSION ... UPDATE must print the same (pg_test/upgrade/upgrade.sh).
--
-- Covered: every member (pg_depend, deptype 'e'); for functions and
-- procedures pg_get_functiondef, owner, privileges and comment; for tables,
-- views and sequences their columns, defaults, constraints, indexes,
-- triggers, policies, rules, options, owner and privileges; types (enum
-- labels in order, composite attributes, domains); event triggers; the
-- dependencies between members; the tables pg_dump keeps (extconfig);
-- pg_init_privs; and, whether members or not (attach mode), the schema's
-- privileges and the triggers on the three session tables.
-- Privileges are listed item by item, sorted: the order of GRANTs differs.
--
-- Privileges are compared as what they grant: an ACL equal to the object's
-- default (acldefault) reads as "(default)", and an initial privilege equal
-- to it is left out. pg_upgrade's dump writes no GRANT for such an ACL, so
-- it arrives NULL on the new major and its pg_init_privs row is not made;
-- both mean the same privileges, and pg_dump reads them as the same.
\set QUIET on
\pset format unaligned
\pset tuples_only on
CREATE FUNCTION pg_temp.granted(acl aclitem[], kind "char", owner oid) RETURNS aclitem[]
    LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(acl) x)
                     IS NOT DISTINCT FROM
                     (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(pg_catalog.acldefault(kind, owner)) x)
           THEN NULL ELSE acl END $$;
WITH ext AS (
    SELECT e.oid, e.extname, e.extversion, e.extrelocatable, e.extnamespace, e.extconfig, e.extcondition
      FROM pg_catalog.pg_extension e WHERE e.extname = :'ext'),
members AS (
    SELECT d.classid, d.objid, d.objsubid
      FROM pg_catalog.pg_depend d, ext
     WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rels AS (
    -- The member relations, and the session tables whoever owns them (attach
    -- mode: GoTrue's, which an update must leave as they are).
    SELECT c.* FROM pg_catalog.pg_class c
     WHERE c.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_class'::regclass)
        OR (c.relnamespace = 'auth'::regnamespace AND c.relname IN ('sessions', 'refresh_tokens', 'mfa_amr_claims'))),
funcs AS (
    SELECT p.* FROM pg_catalog.pg_proc p JOIN members m ON m.classid = 'pg_catalog.pg_proc'::regclass AND m.objid = p.oid),
types AS (
    SELECT t.* FROM pg_catalog.pg_type t JOIN members m ON m.classid = 'pg_catalog.pg_type'::regclass AND m.objid = t.oid),
lines(line) AS (
    SELECT 'extension ' || extname || ' ' || extversion || ' relocatable=' || extrelocatable
           || ' schema=' || extnamespace::regnamespace FROM ext
    UNION ALL
    SELECT 'extension comment: ' || coalesce(pg_catalog.obj_description(oid, 'pg_extension'), '(none)') FROM ext
    UNION ALL
    SELECT 'kept by pg_dump: ' || x.c::regclass || coalesce(' ' || nullif(x.cond, ''), '')
      FROM ext, unnest(ext.extconfig, ext.extcondition) AS x(c, cond)
    UNION ALL
    SELECT 'member ' || pg_catalog.pg_describe_object(classid, objid, objsubid) FROM members
    UNION ALL
    -- Dependencies between members (a function on a type, a default on a
    -- sequence, a trigger on its function...).
    SELECT 'depends ' || pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) || ' -> '
           || pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) || ' (' || d.deptype::text || ')'
      FROM pg_catalog.pg_depend d
      JOIN members a ON (a.classid, a.objid) = (d.classid, d.objid)
      JOIN members b ON (b.classid, b.objid) = (d.refclassid, d.refobjid)
    UNION ALL
    -- Functions and procedures: the whole definition (language, volatility,
    -- parallel safety, SET clauses, SUPPORT, body or C symbol), then owner,
    -- privileges and comment.
    SELECT 'function ' || p.oid::pg_catalog.regprocedure || E':\n' || pg_catalog.pg_get_functiondef(p.oid)
      FROM funcs p WHERE p.prokind IN ('f', 'p', 'w')
    UNION ALL
    SELECT 'function ' || p.oid::pg_catalog.regprocedure || ' owner ' || pg_catalog.pg_get_userbyid(p.proowner)
           || ' kind ' || p.prokind::text || ' cost ' || p.procost || ' rows ' || p.prorows
      FROM funcs p
    UNION ALL
    SELECT 'function ' || p.oid::pg_catalog.regprocedure || ' privilege ' || coalesce(a::text, '(default)')
      FROM funcs p LEFT JOIN LATERAL unnest(pg_temp.granted(p.proacl, 'f', p.proowner)) a ON true
    UNION ALL
    SELECT 'function ' || p.oid::pg_catalog.regprocedure || ' comment: ' || pg_catalog.obj_description(p.oid, 'pg_proc')
      FROM funcs p WHERE pg_catalog.obj_description(p.oid, 'pg_proc') IS NOT NULL
    UNION ALL
    -- Relations.
    SELECT 'relation ' || c.oid::pg_catalog.regclass || ' kind ' || c.relkind::text || ' owner '
           || pg_catalog.pg_get_userbyid(c.relowner) || ' persistence ' || c.relpersistence::text
           || ' rls ' || c.relrowsecurity || '/' || c.relforcerowsecurity || ' replident ' || c.relreplident::text
           || ' options ' || coalesce(c.reloptions::text, '{}') || ' am ' || coalesce(c.relam::pg_catalog.regclass::text, '-')
      FROM rels c
    UNION ALL
    SELECT 'relation ' || c.oid::pg_catalog.regclass || ' privilege ' || coalesce(a::text, '(default)')
      FROM rels c LEFT JOIN LATERAL unnest(pg_temp.granted(c.relacl, (CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner)) a ON true
    UNION ALL
    SELECT 'relation ' || c.oid::pg_catalog.regclass || ' comment: ' || pg_catalog.obj_description(c.oid, 'pg_class')
      FROM rels c WHERE pg_catalog.obj_description(c.oid, 'pg_class') IS NOT NULL
    UNION ALL
    SELECT 'column ' || c.oid::pg_catalog.regclass || '.' || pg_catalog.quote_ident(a.attname) || ' #' || a.attnum || ' '
           || pg_catalog.format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid), '')
           || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
           || CASE WHEN a.attgenerated <> '' THEN ' generated ' || a.attgenerated::text ELSE '' END
           || CASE WHEN a.attcollation <> 0 THEN ' collate ' || a.attcollation::pg_catalog.regcollation ELSE '' END
           || ' storage ' || a.attstorage::text || coalesce(' acl ' || a.attacl::text, '')
           || coalesce(' comment: ' || pg_catalog.col_description(c.oid, a.attnum), '')
      FROM rels c
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_catalog.pg_attrdef d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)
    UNION ALL
    SELECT 'constraint ' || c.oid::pg_catalog.regclass || ' ' || pg_catalog.quote_ident(k.conname) || ' '
           || pg_catalog.pg_get_constraintdef(k.oid) || CASE WHEN k.convalidated THEN '' ELSE ' not validated' END
      FROM rels c JOIN pg_catalog.pg_constraint k ON k.conrelid = c.oid
    UNION ALL
    SELECT 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
           || CASE WHEN i.indisprimary THEN ' primary' ELSE '' END
           || CASE WHEN i.indisreplident THEN ' replica identity' ELSE '' END
      FROM rels c JOIN pg_catalog.pg_index i ON i.indrelid = c.oid
    UNION ALL
    SELECT 'view ' || c.oid::pg_catalog.regclass || ': ' || pg_catalog.pg_get_viewdef(c.oid)
      FROM rels c WHERE c.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'sequence ' || s.seqrelid::pg_catalog.regclass || ' ' || s.seqtypid::pg_catalog.regtype || ' start ' || s.seqstart
           || ' increment ' || s.seqincrement || ' min ' || s.seqmin || ' max ' || s.seqmax || ' cache ' || s.seqcache
           || ' cycle ' || s.seqcycle
      FROM rels c JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
    UNION ALL
    SELECT 'policy ' || p.polname || ' on ' || p.polrelid::pg_catalog.regclass || ' ' || p.polcmd::text || ' '
           || CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END
           || ' to ' || p.polroles::pg_catalog.regrole[]::text
           || coalesce(' using ' || pg_catalog.pg_get_expr(p.polqual, p.polrelid), '')
           || coalesce(' check ' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '')
      FROM rels c JOIN pg_catalog.pg_policy p ON p.polrelid = c.oid
    UNION ALL
    SELECT 'rule ' || pg_catalog.pg_get_ruledef(r.oid)
      FROM rels c JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid WHERE r.rulename <> '_RETURN'
    UNION ALL
    -- Triggers (attach mode puts the limit trigger on GoTrue's table).
    SELECT 'trigger ' || pg_catalog.pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
      FROM rels c JOIN pg_catalog.pg_trigger t ON t.tgrelid = c.oid WHERE NOT t.tgisinternal
    UNION ALL
    -- Types.
    SELECT 'type ' || t.oid::pg_catalog.regtype || ' kind ' || t.typtype::text || ' owner ' || pg_catalog.pg_get_userbyid(t.typowner)
           || coalesce(' comment: ' || pg_catalog.obj_description(t.oid, 'pg_type'), '')
      FROM types t
    UNION ALL
    SELECT 'type ' || t.oid::pg_catalog.regtype || ' privilege ' || a::text
      FROM types t, unnest(pg_temp.granted(t.typacl, 'T', t.typowner)) a
    UNION ALL
    SELECT 'enum ' || t.oid::pg_catalog.regtype || ' labels '
           || (SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid)
      FROM types t WHERE t.typtype = 'e'
    UNION ALL
    SELECT 'attribute ' || t.oid::pg_catalog.regtype || '.' || pg_catalog.quote_ident(a.attname) || ' #' || a.attnum || ' '
           || pg_catalog.format_type(a.atttypid, a.atttypmod)
      FROM types t JOIN pg_catalog.pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE t.typtype = 'c'
    UNION ALL
    SELECT 'domain ' || t.oid::pg_catalog.regtype || ' over ' || pg_catalog.format_type(t.typbasetype, t.typtypmod)
           || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END || coalesce(' default ' || t.typdefault, '')
      FROM types t WHERE t.typtype = 'd'
    UNION ALL
    SELECT 'domain constraint ' || k.contypid::pg_catalog.regtype || ' ' || k.conname || ' ' || pg_catalog.pg_get_constraintdef(k.oid)
      FROM types t JOIN pg_catalog.pg_constraint k ON k.contypid = t.oid
    UNION ALL
    -- Event triggers.
    SELECT 'event trigger ' || v.evtname || ' on ' || v.evtevent || ' tags ' || coalesce(v.evttags::text, '{}')
           || ' runs ' || v.evtfoid::pg_catalog.regprocedure || ' enabled ' || v.evtenabled::text
           || ' owner ' || pg_catalog.pg_get_userbyid(v.evtowner)
      FROM pg_catalog.pg_event_trigger v JOIN members m ON m.classid = 'pg_catalog.pg_event_trigger'::regclass AND m.objid = v.oid
    UNION ALL
    -- The initial privileges pg_dump compares with (GRANTs in the scripts).
    SELECT 'initial privilege ' || pg_catalog.pg_describe_object(i.classoid, i.objoid, i.objsubid) || ' ' || i.privtype::text || ' ' || a::text
      FROM pg_catalog.pg_init_privs i JOIN members m ON (m.classid, m.objid) = (i.classoid, i.objoid),
           unnest(CASE WHEN i.objsubid <> 0 THEN i.initprivs
                       WHEN i.classoid = 'pg_catalog.pg_proc'::regclass
                       THEN pg_temp.granted(i.initprivs, 'f', (SELECT proowner FROM pg_catalog.pg_proc WHERE oid = i.objoid))
                       WHEN i.classoid = 'pg_catalog.pg_class'::regclass
                       THEN (SELECT pg_temp.granted(i.initprivs, (CASE relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", relowner)
                               FROM pg_catalog.pg_class WHERE oid = i.objoid)
                       WHEN i.classoid = 'pg_catalog.pg_type'::regclass
                       THEN pg_temp.granted(i.initprivs, 'T', (SELECT typowner FROM pg_catalog.pg_type WHERE oid = i.objoid))
                       ELSE i.initprivs END) a
    UNION ALL
    -- The schema, member or not.
    SELECT 'schema auth owner ' || pg_catalog.pg_get_userbyid(n.nspowner) || ' privilege ' || coalesce(a::text, '(default)')
      FROM pg_catalog.pg_namespace n LEFT JOIN LATERAL unnest(pg_temp.granted(n.nspacl, 'n', n.nspowner)) a ON true WHERE n.nspname = 'auth'
)
SELECT line FROM lines ORDER BY line COLLATE "C";
