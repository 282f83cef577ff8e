//! The golden records a reconciliation plans, read through the same world builder
//! (src: `reconcile/registry.rs`).

use popsync::reconcile::{reconcile, Persons};

use super::harness::*;

/// A golden record as a line: key, state, township, then each field with the record
/// it came from, then each link.
fn golden_line(p: &popsync::reconcile::GoldenRecord<'_>) -> String {
    let mut out = format!(
        "{} {} {}",
        p.key,
        p.state.as_str(),
        p.township.map(|t| t.to_string()).unwrap_or_default()
    );
    for f in &p.fields {
        let r = &p.refs[f.from as usize];
        out.push_str(&format!(
            " | {}={} <{}:{}>",
            f.name, f.value, r.source, r.key
        ));
    }
    for l in &p.links {
        out.push_str(&format!(" | link {}:{}", l.source, l.key));
    }
    out
}

/// The registry is planned first and each golden record built when it is written:
/// every kind of person comes out with each field's source and every record that
/// denotes them, in key order.
#[test]
fn registry_golden_records_name_their_sources_and_links() {
    let h = man("张伟", "1980-03-04", 1);
    let wf = woman("李娜", "1982-05-06", 2);
    let dead = man("王强", "1950-01-02", 3);
    let outsider = man("外地人", "1984-01-01", 4);
    let mut w = world();
    w.resident("RKH", &h, V1)
        .hyzk("20")
        .resident("RKW", &wf, V1)
        .marriage("JH1", "结婚", &h, &wf, &ago(300))
        .resident("RKD", &dead, V2)
        .death_cert("SW1", &dead, &ago(100))
        .birth_cert("CS1", Some("张小"), M, &ago(200), &wf, V1)
        .pis_of("RKX", &outsider, V3)
        .hyzk("10");
    let out = reconcile(&w.snap, &w.params());
    let registry = &out.registry;
    let lines: Vec<String> = (0..registry.count())
        .map(|at| {
            assert_eq!(registry.key(at), registry.golden(at).key.as_str());
            golden_line(&registry.golden(at))
        })
        .collect();
    let d100 = ago(100);
    let want = [
        format!(
            "{} on_register 349901001 | name=张伟 <psb:L000001> | sex=男 <psb:L000001> \
             | birth_date=1980-03-04 <psb:L000001> | township=349901001 <psb:L000001> \
             | state=在册 <psb:L000001> | marital_status=已婚 <mca:JH1> \
             | link mca.marriage:JH1/husband | link pis:RKH | link psb:L000001",
            h.id
        ),
        format!(
            "{} on_register 349901001 | name=李娜 <psb:L000002> | sex=女 <psb:L000002> \
             | birth_date=1982-05-06 <psb:L000002> | township=349901001 <psb:L000002> \
             | state=在册 <psb:L000002> | marital_status=已婚 <mca:JH1> \
             | link mca.marriage:JH1/wife | link pis:RKW | link psb:L000002",
            wf.id
        ),
        format!(
            "{} dead 349901002 | name=王强 <psb:L000003> | sex=男 <psb:L000003> \
             | birth_date=1950-01-02 <psb:L000003> | township=349901002 <psb:L000003> \
             | state=死亡 {d100} <nhc:SW1#1> \
             | link nhc.death:SW1#1 | link pis:RKD | link psb:L000003",
            dead.id
        ),
        format!(
            "{} pis_only 349901003 | name=外地人 <pis:RKX> | sex=男 <pis:RKX> \
             | birth_date=1984-01-01 <pis:RKX> | township=349901003 <pis:RKX> \
             | marital_status=未婚 <pis:RKX> | link pis:RKX",
            outsider.id
        ),
        format!(
            "birth:CS1 unregistered_birth 349901001 | name=张小 <nhc:CS1#1> | sex=男 <nhc:CS1#1> \
             | birth_date={} <nhc:CS1#1> | mother_id={} <nhc:CS1#1> \
             | state=出生未落户 <nhc:CS1#1> | township=349901001 <nhc:CS1#1> \
             | link nhc.birth:CS1#1",
            ago(200),
            wf.id
        ),
    ];
    let mut want: Vec<String> = want.into_iter().collect();
    want.sort();
    assert_eq!(lines, want);
    assert!(
        out.registry.unlinked.is_empty(),
        "{:?}",
        out.registry.unlinked
    );
}
